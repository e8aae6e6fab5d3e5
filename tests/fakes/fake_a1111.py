#!/usr/bin/python3
"""fake_a1111.py - a stand-in for AUTOMATIC1111 stable-diffusion-webui v1.10.1's HTTP API.

Behaviour follows shared/protocol/service-apis.md section 2 (read from A1111's source), not any
captured server: no model, no GPU, Python standard library only (so it starts in ~50 ms and
needs nothing beyond Debian's python3).

What it reproduces
  - POST /sdapi/v1/txt2img and /img2img block for the whole generation (steps * --step-ms),
    one at a time, in arrival order (A1111's FIFOLock shared by every generation).
  - GET /sdapi/v1/progress is global (whatever job holds the lock), computed as A1111 does,
    including job_count = -1 while a job is starting and stale counters after it ends.
  - POST /sdapi/v1/interrupt sets state.interrupted; the running sampler stops at its next step,
    the current batch's images are still returned, with 200. An interrupt is reset when the
    next job begins (State.begin), so one sent while nothing runs is lost.
  - force_task_id and the task bookkeeping of modules/progress.py; with --webui, the Gradio-only
    routes POST /internal/progress, GET /internal/ping and GET /internal/pending-tasks.
  - Errors: FastAPI 0.94 / pydantic v1 422 validation lists (type coercion as pydantic v1 does
    it, JSON decode errors with ctx), A1111's {"error","detail","body","errors"} envelope for
    everything else, 401 with --api-auth, 400 "Sampler not found", 404 "Init image not found",
    500 "Invalid encoded image", {"detail":"Not Found"} for unknown routes.
  - Responses are compact JSON (separators ",", ":"), ensure_ascii off, like JSONResponse;
    info is json.dumps of Processed.js()'s dict; 64-bit seeds survive (Python ints).

Test controls (not A1111's; under /fake/)
  POST /fake/config      merge settings: step_ms, error_next {status,error,detail,errors,
                         after_steps}, raw_next {status,body,content_type,after_steps} (both
                         used by the next generation only), progress_raw (a raw body for
                         /sdapi/v1/progress, null to stop), progress_delay_ms (answer
                         progress polls late), ignore_interrupt (bool),
                         api_auth ("user:pass[,...]", "" for none)
  POST /fake/foreign     start another client's generation in the background:
                         {"steps", "job" ("scripts_txt2img" or a UI "task(...)"), "task_id"}
  GET  /fake/state       {"running", "queue", "job", "job_count", "sampling_step",
                         "current_task", "pending", "finished", "interrupts", "generations",
                         "interrupted_tasks", "started"}
  GET  /fake/requests    every generation/interrupt request: [{"method","path","body"}]
  GET  /fake/last-body   the raw bytes of the last txt2img/img2img request body

Usage
  /usr/bin/python3 fake_a1111.py [--host 127.0.0.1] [--port 0] [--port-file F] [--step-ms 100]
                                 [--webui] [--api-auth user:pass[,user2:pass2]]
                                 [--exit-with-parent] [--verbose]
  The first line on stdout is the port number (then stdout is quiet). Stop it with SIGTERM.
"""

import argparse
import base64
import binascii
import datetime
import hmac
import json
import os
import random
import string
import struct
import sys
import threading
import time
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VERSION = "v1.10.1"
SAMPLERS = ["DPM++ 2M", "DPM++ SDE", "Euler a", "Euler", "LMS", "Heun", "DDIM", "UniPC"]
SCHEDULERS = ["automatic", "Automatic", "uniform", "Uniform", "karras", "Karras",
              "exponential", "Exponential", "sgm_uniform", "SGM Uniform"]
MODELS = [
    {"title": "v1-5-pruned-emaonly.safetensors [6ce0161689]", "model_name": "v1-5-pruned-emaonly",
     "hash": "6ce0161689", "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
     "filename": "/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors", "config": None},
    {"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0",
     "hash": "31e35c80fc", "sha256": None,
     "filename": "/models/Stable-diffusion/sd_xl_base_1.0.safetensors", "config": None},
]

# ---- request models: field -> (type, default), from StableDiffusionProcessing* (all Optional) ----
COMMON_FIELDS = {
    "prompt": ("str", ""), "negative_prompt": ("str", ""), "styles": ("list[str]", None),
    "seed": ("int", -1), "subseed": ("int", -1), "subseed_strength": ("float", 0),
    "seed_resize_from_h": ("int", -1), "seed_resize_from_w": ("int", -1),
    "sampler_name": ("str", None), "scheduler": ("str", None), "batch_size": ("int", 1),
    "n_iter": ("int", 1), "steps": ("int", 50), "cfg_scale": ("float", 7.0),
    "width": ("int", 512), "height": ("int", 512), "restore_faces": ("bool", None),
    "tiling": ("bool", None), "do_not_save_samples": ("bool", False),
    "do_not_save_grid": ("bool", False), "eta": ("float", None), "s_min_uncond": ("float", None),
    "s_churn": ("float", None), "s_tmax": ("float", None), "s_tmin": ("float", None),
    "s_noise": ("float", None), "override_settings": ("dict", None),
    "override_settings_restore_afterwards": ("bool", True), "refiner_checkpoint": ("str", None),
    "refiner_switch_at": ("float", None), "disable_extra_networks": ("bool", False),
    "firstpass_image": ("str", None), "comments": ("dict", None), "sampler_index": ("str", "Euler"),
    "script_name": ("str", None), "script_args": ("list", []), "send_images": ("bool", True),
    "save_images": ("bool", False), "alwayson_scripts": ("dict", {}),
    "force_task_id": ("str", None), "infotext": ("str", None),
}
TXT2IMG_FIELDS = dict(COMMON_FIELDS, **{
    "enable_hr": ("bool", False), "denoising_strength": ("float", 0.75),
    "firstphase_width": ("int", 0), "firstphase_height": ("int", 0), "hr_scale": ("float", 2.0),
    "hr_upscaler": ("str", None), "hr_second_pass_steps": ("int", 0), "hr_resize_x": ("int", 0),
    "hr_resize_y": ("int", 0), "hr_checkpoint_name": ("str", None), "hr_sampler_name": ("str", None),
    "hr_scheduler": ("str", None), "hr_prompt": ("str", ""), "hr_negative_prompt": ("str", ""),
})
IMG2IMG_FIELDS = dict(COMMON_FIELDS, **{
    "init_images": ("list", None), "resize_mode": ("int", 0), "denoising_strength": ("float", 0.75),
    "image_cfg_scale": ("float", None), "mask": ("str", None), "mask_blur_x": ("int", 4),
    "mask_blur_y": ("int", 4), "mask_blur": ("int", None), "mask_round": ("bool", True),
    "inpainting_fill": ("int", 0), "inpaint_full_res": ("bool", True),
    "inpaint_full_res_padding": ("int", 0), "inpainting_mask_invert": ("int", 0),
    "initial_noise_multiplier": ("float", None), "latent_mask": ("str", None),
    "include_init_images": ("bool", False),
})

TRUE_WORDS = {"1", "on", "t", "true", "y", "yes"}
FALSE_WORDS = {"0", "off", "f", "false", "n", "no"}


class Invalid(Exception):
    def __init__(self, msg, type_):
        super().__init__(msg)
        self.msg, self.type = msg, type_


def coerce(kind, v):
    """pydantic v1's coercion for the few types the request models use."""
    if v is None:
        return None  # every A1111 request field is Optional
    if kind == "int":
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        try:
            return int(v)
        except (TypeError, ValueError, OverflowError):
            raise Invalid("value is not a valid integer", "type_error.integer")
    if kind == "float":
        if isinstance(v, float):
            return v
        try:
            return float(v)
        except (TypeError, ValueError, OverflowError):
            raise Invalid("value is not a valid float", "type_error.float")
    if kind == "bool":
        if v is True or v is False:
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.lower() in TRUE_WORDS | FALSE_WORDS:
            return v.lower() in TRUE_WORDS
        raise Invalid("value could not be parsed to a boolean", "type_error.bool")
    if kind == "str":
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        raise Invalid("str type expected", "type_error.str")
    if kind.startswith("list"):
        if not isinstance(v, list):
            raise Invalid("value is not a valid list", "type_error.list")
        return v
    if kind == "dict":
        if not isinstance(v, dict):
            raise Invalid("value is not a valid dict", "type_error.dict")
        return v
    return v


def validate(fields, body):
    """-> (model dict, errors list) like FastAPI's body validation of a pydantic v1 model."""
    if not isinstance(body, dict):
        return None, [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
    model, errors = {}, []
    for name, (kind, default) in fields.items():
        if name not in body:
            model[name] = default
            continue
        try:
            model[name] = coerce(kind, body[name])
            if kind == "list[str]" and model[name] is not None:
                for i, item in enumerate(model[name]):
                    try:
                        model[name][i] = coerce("str", item)
                    except Invalid as e:
                        errors.append({"loc": ["body", name, i], "msg": e.msg, "type": e.type})
        except Invalid as e:
            errors.append({"loc": ["body", name], "msg": e.msg, "type": e.type})
    return model, errors


class ApiError(Exception):
    """An exception that A1111's handle_exception turns into its envelope."""

    def __init__(self, status, error="HTTPException", detail="", errors="", body=""):
        super().__init__(detail)
        self.status, self.error, self.detail, self.errors, self.body = status, error, detail, errors, body

    def envelope(self):
        return {"error": self.error, "detail": self.detail, "body": self.body, "errors": self.errors}


def png(width, height, rgb, text):
    """A real (tiny) PNG with A1111's 'parameters' tEXt chunk."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"parameters\x00" + text.encode("latin-1", "replace"))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class FifoLock:
    """modules/fifo_lock.py: a lock granted strictly in arrival order."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue = deque()
        self._held = False

    def __enter__(self):
        me = object()
        with self._cond:
            self._queue.append(me)
            while self._held or self._queue[0] is not me:
                self._cond.wait()
            self._queue.popleft()
            self._held = True

    def __exit__(self, *exc):
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def status(self):
        with self._cond:
            return self._held, len(self._queue)


class Fake:
    """shared.state + modules/progress.py bookkeeping + the test controls."""

    def __init__(self, args):
        self.args = args
        self.mu = threading.Lock()  # guards everything below
        self.queue_lock = FifoLock()
        self.step_ms = args.step_ms
        self.error_next = None
        self.raw_next = None
        self.progress_raw = None
        self.progress_delay_ms = 0
        self.ignore_interrupt = False
        self.requests = []
        self.last_body = b""
        self.interrupts = 0
        self.generations = 0
        self.started = 0
        self.interrupted_tasks = []
        # shared.state (State.__init__ values)
        self.st = dict(skipped=False, interrupted=False, stopping_generation=False, job="",
                       job_count=0, job_timestamp="0", job_no=0, sampling_step=0, sampling_steps=0)
        self.time_start = time.time()
        # modules/progress.py
        self.current_task = None
        self.pending_tasks = {}
        self.finished_tasks = []
        self.credentials = {}
        if args.api_auth:
            for pair in args.api_auth.split(","):
                user, _, password = pair.partition(":")
                self.credentials[user] = password

    # -- modules/progress.py --
    def add_task_to_queue(self, task_id):
        with self.mu:
            self.pending_tasks[task_id] = time.time()

    def start_task(self, task_id):
        with self.mu:
            self.current_task = task_id
            self.pending_tasks.pop(task_id, None)

    def finish_task(self, task_id):
        with self.mu:
            if self.current_task == task_id:
                self.current_task = None
            self.finished_tasks.append(task_id)
            if len(self.finished_tasks) > 16:
                self.finished_tasks.pop(0)

    # -- shared.state --
    def begin(self, job):
        with self.mu:
            self.st.update(sampling_step=0, job_count=-1, job_no=0, skipped=False, interrupted=False,
                           stopping_generation=False, job=job,
                           job_timestamp=datetime.datetime.now().strftime("%Y%m%d%H%M%S"))
            self.time_start = time.time()
            self.started += 1

    def end(self):
        with self.mu:
            self.st.update(job="", job_count=0)

    def interrupt(self):
        with self.mu:
            self.interrupts += 1
            if not self.ignore_interrupt:
                self.st["interrupted"] = True

    def progress(self):
        with self.mu:
            st = dict(self.st)
            if self.progress_raw is not None:
                return self.progress_raw
            if st["job_count"] == 0:
                return {"progress": 0, "eta_relative": 0, "state": st, "current_image": None, "textinfo": None}
            progress = 0.01
            if st["job_count"] > 0:
                progress += st["job_no"] / st["job_count"]
            if st["sampling_steps"] > 0:
                progress += 1 / st["job_count"] * st["sampling_step"] / st["sampling_steps"]
            elapsed = time.time() - self.time_start
            eta_relative = elapsed / progress - elapsed if progress else 0
            return {"progress": min(progress, 1), "eta_relative": eta_relative, "state": st,
                    "current_image": None, "textinfo": None}

    def task_progress(self, req):
        with self.mu:
            task = req.get("id_task")
            active = task == self.current_task and task is not None
            queued = task in self.pending_tasks
            completed = task in self.finished_tasks
            if not active:
                textinfo = "Waiting..."
                if queued:
                    order = sorted(self.pending_tasks, key=lambda k: self.pending_tasks[k])
                    textinfo = "In queue: {}/{}".format(order.index(task) + 1, len(order))
                return {"active": False, "queued": queued, "completed": completed, "progress": None,
                        "eta": None, "live_preview": None, "id_live_preview": -1, "textinfo": textinfo}
            st = self.st
            progress = 0
            if st["job_count"] > 0:
                progress += st["job_no"] / st["job_count"]
                if st["sampling_steps"] > 0:
                    progress += 1 / st["job_count"] * st["sampling_step"] / st["sampling_steps"]
            progress = min(progress, 1)
            elapsed = time.time() - self.time_start
            eta = elapsed / progress - elapsed if progress > 0 else None
            return {"active": True, "queued": queued, "completed": completed, "progress": progress,
                    "eta": eta, "live_preview": None, "id_live_preview": req.get("id_live_preview", -1),
                    "textinfo": None}

    # -- a generation (process_images), holding the queue lock --
    def generate(self, mode, model, task_id, job):
        self.add_task_to_queue(task_id)
        with self.queue_lock:
            with self.mu:
                self.generations += 1
                error_next, self.error_next = self.error_next, None
                raw_next, self.raw_next = self.raw_next, None
            try:
                self.begin(job)
                self.start_task(task_id)
                images, seeds = self.sample(model, error_next or raw_next)
                with self.mu:
                    if self.st["interrupted"]:
                        self.interrupted_tasks.append(task_id)
                if error_next:
                    raise ApiError(error_next.get("status", 500), error_next.get("error", "RuntimeError"),
                                   error_next.get("detail", ""), error_next.get("errors", ""))
                if raw_next:
                    return raw_next
                self.finish_task(task_id)
            finally:
                self.end()
        return self.response(mode, model, images, seeds)

    def sample(self, model, failure):
        n_iter = max(1, model["n_iter"] or 1)
        batch_size = max(1, model["batch_size"] or 1)
        steps = max(1, model["steps"] or 1)
        stop_after = failure.get("after_steps") if failure else None
        seed = model["seed"] if model["seed"] not in (None, -1) else random.randrange(4294967294)
        seeds = [seed + i for i in range(n_iter * batch_size)]
        time.sleep(min(self.step_ms, 20) / 1000.0)  # loading: job_count is still -1
        with self.mu:
            self.st["job_count"] = n_iter
        images, done_steps = [], 0
        for n in range(n_iter):
            with self.mu:
                if self.st["interrupted"]:
                    break
                self.st.update(sampling_steps=steps, sampling_step=0)
            for _ in range(steps):
                if stop_after is not None and done_steps >= stop_after:
                    return images, seeds
                time.sleep(self.step_ms / 1000.0)
                done_steps += 1
                with self.mu:
                    if self.st["interrupted"]:
                        break
                    self.st["sampling_step"] += 1
            images += [n * batch_size + b for b in range(batch_size)]  # decoded even if interrupted
            with self.mu:
                self.st["job_no"] += 1
                self.st["sampling_step"] = 0
        return images, seeds

    def response(self, mode, model, images, seeds):
        send = model["send_images"] is not False
        prompt = model["prompt"] or ""
        infotexts = ["{}\nSteps: {}, Sampler: {}, CFG scale: {}, Seed: {}, Size: {}x{}, Version: {}".format(
            prompt, model["steps"], model["sampler_name"], model["cfg_scale"], seeds[i],
            model["width"], model["height"], VERSION) for i in images]
        b64 = [base64.b64encode(png(8, 8, ((seeds[i] >> 16) & 255, (seeds[i] >> 8) & 255, seeds[i] & 255),
                                    infotexts[k])).decode("ascii") for k, i in enumerate(images)]
        parameters = dict(model)
        if mode == "img2img" and not model.get("include_init_images"):
            parameters["init_images"] = None
            parameters["mask"] = None
        info = {
            "prompt": prompt, "all_prompts": [prompt] * len(seeds),
            "negative_prompt": model["negative_prompt"], "all_negative_prompts": [model["negative_prompt"]] * len(seeds),
            "seed": seeds[0], "all_seeds": seeds, "subseed": 1234567, "all_subseeds": [1234567] * len(seeds),
            "subseed_strength": model["subseed_strength"], "width": model["width"], "height": model["height"],
            "sampler_name": model["sampler_name"], "cfg_scale": model["cfg_scale"], "steps": model["steps"],
            "batch_size": model["batch_size"], "restore_faces": model["restore_faces"], "face_restoration_model": None,
            "sd_model_name": "v1-5-pruned-emaonly", "sd_model_hash": "6ce0161689", "sd_vae_name": None,
            "sd_vae_hash": None, "seed_resize_from_w": -1, "seed_resize_from_h": -1,
            "denoising_strength": model.get("denoising_strength"), "extra_generation_params": {},
            "index_of_first_image": 0, "infotexts": infotexts, "styles": model["styles"] or [],
            "job_timestamp": self.st["job_timestamp"], "clip_skip": 1,
            "is_using_inpainting_conditioning": False, "version": VERSION,
        }
        return {"images": b64 if send else [], "parameters": parameters,
                "info": json.dumps(info, default=lambda o: None)}

    def create_task_id(self, kind):
        return "task({}-{})".format(kind, "".join(random.choices(string.ascii_uppercase + string.digits, k=7)))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""

    # -- plumbing --
    def log_message(self, fmt, *a):
        if self.server.fake.args.verbose:
            sys.stderr.write("fake_a1111: " + (fmt % a) + "\n")

    def send_raw(self, status, body, content_type="application/json", started=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-process-time", "%.4f" % (time.time() - (started or time.time())))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj, started=None):
        self.send_raw(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")), started=started)

    def read_body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        started = time.time()
        fake = self.server.fake
        url = urlsplit(self.path)
        body = self.read_body()
        routes = dict(ROUTES)
        if fake.args.webui:
            routes.update(WEBUI_ROUTES)
        route = routes.get(url.path)
        try:
            if route is None:
                return self.send_json(404, {"detail": "Not Found"}, started)
            if method not in route[0]:
                return self.send_json(405, {"detail": "Method Not Allowed"}, started)
            if url.path.startswith("/sdapi/v1/") and fake.credentials:
                self.check_auth()
            status, obj = route[1](self, body)
            if isinstance(obj, dict) and "raw_body" in obj:  # a scripted raw answer
                return self.send_raw(obj.get("status", status), obj["raw_body"],
                                     obj.get("content_type", "application/json"), started)
            self.send_json(status, obj, started)
        except ApiError as e:
            self.send_json(e.status, e.envelope(), started)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # A1111's handle_exception: any other exception is a 500 envelope
            self.send_json(500, ApiError(500, type(e).__name__, errors=str(e)).envelope(), started)

    def check_auth(self):
        """HTTPBasic + Api.auth; A1111's handler turns the HTTPException into its envelope."""
        header = self.headers.get("authorization", "")
        scheme, _, param = header.partition(" ")
        if not header or scheme.lower() != "basic":
            raise ApiError(401, detail="Not authenticated")
        try:
            user, sep, password = base64.b64decode(param, validate=True).decode("ascii").partition(":")
            if not sep:
                raise ValueError()
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise ApiError(401, detail="Invalid authentication credentials")
        if user in self.server.fake.credentials and hmac.compare_digest(password, self.server.fake.credentials[user]):
            return
        raise ApiError(401, detail="Incorrect username or password")

    def parse_model(self, body, fields):
        """FastAPI 0.94 request body handling: JSON decode, then pydantic v1 validation."""
        ctype = self.headers.get("content-type", "")
        doc = None
        if body:
            if not ctype or ctype.split(";")[0].strip().lower() == "application/json" or ctype.split(";")[0].strip().endswith("+json"):
                try:
                    doc = json.loads(body)
                except json.JSONDecodeError as e:
                    raise Validation([{"loc": ["body", e.pos], "msg": str(e), "type": "value_error.jsondecode",
                                       "ctx": {"msg": e.msg, "doc": e.doc, "pos": e.pos, "lineno": e.lineno,
                                               "colno": e.colno}}])
                except UnicodeDecodeError as e:
                    raise ApiError(500, "UnicodeDecodeError", errors=str(e))
            else:
                doc = body.decode("utf-8", "replace")
        else:
            raise Validation([{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}])
        model, errors = validate(fields, doc)
        if errors:
            raise Validation(errors)
        return model

    # -- /sdapi/v1 --
    def txt2img(self, body):
        return self.generation("txt2img", TXT2IMG_FIELDS, body)

    def img2img(self, body):
        return self.generation("img2img", IMG2IMG_FIELDS, body)

    def generation(self, mode, fields, body):
        fake = self.server.fake
        with fake.mu:
            fake.requests.append({"method": "POST", "path": self.path, "body": body.decode("utf-8", "replace")})
            fake.last_body = body
        try:
            model = self.parse_model(body, fields)
        except Validation as v:
            return 422, {"detail": v.errors}
        if model["script_name"]:
            raise ApiError(422, detail="Script '{}' not found".format(model["script_name"]))
        sampler = model["sampler_name"] or model["sampler_index"]
        if sampler not in SAMPLERS and not any(sampler == s + " " + sch for s in SAMPLERS for sch in SCHEDULERS):
            raise ApiError(400, detail="Sampler not found")
        if mode == "img2img":
            if model["init_images"] is None:
                raise ApiError(404, detail="Init image not found")
            for img in model["init_images"]:
                data = img.split(";base64,", 1)[1] if isinstance(img, str) and img.startswith("data:image/") else img
                try:
                    base64.b64decode(data, validate=True)
                    if not data:
                        raise ValueError()
                except (TypeError, ValueError, binascii.Error):
                    raise ApiError(500, detail="Invalid encoded image")
        task_id = model["force_task_id"] or fake.create_task_id(mode)
        result = fake.generate(mode, model, task_id, "scripts_" + mode)
        if "body" in result and "images" not in result:  # raw_next
            return result.get("status", 200), {"raw_body": result["body"], "status": result.get("status", 200),
                                               "content_type": result.get("content_type", "application/json")}
        return 200, result

    def progress_route(self, body):
        delay = self.server.fake.progress_delay_ms
        if delay:
            time.sleep(delay / 1000.0)
        p = self.server.fake.progress()
        if isinstance(p, str):
            return 200, {"raw_body": p}
        return 200, p

    def interrupt(self, body):
        fake = self.server.fake
        with fake.mu:
            fake.requests.append({"method": "POST", "path": self.path, "body": body.decode("utf-8", "replace")})
        fake.interrupt()
        return 200, {}

    def skip(self, body):
        with self.server.fake.mu:
            self.server.fake.st["skipped"] = True
        return 200, None

    def options(self, body):
        return 200, {"sd_model_checkpoint": MODELS[0]["title"], "samples_format": "png",
                     "live_previews_enable": True, "show_progress_every_n_steps": 10,
                     "sd_checkpoint_hash": MODELS[0]["sha256"]}

    def sd_models(self, body):
        return 200, MODELS

    def samplers(self, body):
        return 200, [{"name": s, "aliases": [], "options": {}} for s in SAMPLERS]

    # -- /internal (Gradio UI mode only) --
    def internal_progress(self, body):
        try:
            req = json.loads(body or b"{}")
        except json.JSONDecodeError:
            req = {}
        return 200, self.server.fake.task_progress(req if isinstance(req, dict) else {})

    def internal_ping(self, body):
        return 200, {}

    def pending_tasks(self, body):
        fake = self.server.fake
        with fake.mu:
            tasks = sorted(fake.pending_tasks, key=lambda k: fake.pending_tasks[k])
        return 200, {"size": len(tasks), "tasks": tasks}

    # -- test controls --
    def fake_config(self, body):
        fake = self.server.fake
        conf = json.loads(body or b"{}")
        with fake.mu:
            for key in ("step_ms", "error_next", "raw_next", "progress_raw", "progress_delay_ms",
                        "ignore_interrupt"):
                if key in conf:
                    setattr(fake, key, conf[key])
            if "api_auth" in conf:  # replace the --api-auth credentials
                fake.credentials = dict(p.partition(":")[::2] for p in (conf["api_auth"] or "").split(",") if p)
        return 200, {"ok": True}

    def fake_foreign(self, body):
        fake = self.server.fake
        conf = json.loads(body or b"{}")
        model, _ = validate(TXT2IMG_FIELDS, {"steps": conf.get("steps", 10), "prompt": "someone else's job"})
        task_id = conf.get("task_id") or fake.create_task_id("txt2img")
        job = conf.get("job", "scripts_txt2img")
        threading.Thread(target=fake.generate, args=("txt2img", model, task_id, job), daemon=True).start()
        return 200, {"task_id": task_id}

    def fake_state(self, body):
        fake = self.server.fake
        held, waiting = fake.queue_lock.status()
        with fake.mu:
            return 200, {"running": held, "queue": waiting, "job": fake.st["job"],
                         "job_count": fake.st["job_count"], "sampling_step": fake.st["sampling_step"],
                         "current_task": fake.current_task,
                         "pending": sorted(fake.pending_tasks), "finished": list(fake.finished_tasks),
                         "interrupts": fake.interrupts, "generations": fake.generations,
                         "interrupted_tasks": list(fake.interrupted_tasks),
                         "started": fake.started}

    def fake_requests(self, body):
        with self.server.fake.mu:
            return 200, list(self.server.fake.requests)

    def fake_last_body(self, body):
        with self.server.fake.mu:
            return 200, {"raw_body": self.server.fake.last_body}


class Validation(Exception):
    def __init__(self, errors):
        super().__init__("validation")
        self.errors = errors


ROUTES = {
    "/sdapi/v1/txt2img": (("POST",), Handler.txt2img),
    "/sdapi/v1/img2img": (("POST",), Handler.img2img),
    "/sdapi/v1/progress": (("GET",), Handler.progress_route),
    "/sdapi/v1/interrupt": (("POST",), Handler.interrupt),
    "/sdapi/v1/skip": (("POST",), Handler.skip),
    "/sdapi/v1/options": (("GET",), Handler.options),
    "/sdapi/v1/sd-models": (("GET",), Handler.sd_models),
    "/sdapi/v1/samplers": (("GET",), Handler.samplers),
    "/fake/config": (("POST",), Handler.fake_config),
    "/fake/foreign": (("POST",), Handler.fake_foreign),
    "/fake/state": (("GET",), Handler.fake_state),
    "/fake/requests": (("GET",), Handler.fake_requests),
    "/fake/last-body": (("GET",), Handler.fake_last_body),
}
WEBUI_ROUTES = {
    "/internal/progress": (("POST",), Handler.internal_progress),
    "/internal/ping": (("GET",), Handler.internal_ping),
    "/internal/pending-tasks": (("GET",), Handler.pending_tasks),
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="fake AUTOMATIC1111 v1.10.1 API for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="also write the port here (atomically)")
    ap.add_argument("--step-ms", type=int, default=100, help="time per sampling step")
    ap.add_argument("--webui", action="store_true", help="Gradio mode: add the /internal routes")
    ap.add_argument("--api-auth", help="user:pass[,user2:pass2] like A1111's --api-auth")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the process that started it is gone (tests that may crash)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    server = Server((args.host, args.port), Handler)
    server.fake = Fake(args)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()

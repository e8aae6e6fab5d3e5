#!/usr/bin/python3
"""test_e2e.py - the main path end to end, per connector: a job submitted to a real
redis-server exactly as the emp-job-queue API submits it (hash, score, job_submitted) is claimed
by emp-worker, runs through the real plugin against the wire-faithful fake backend
(tests/fakes/), and lands as `completed` with the plugin's result in `complete_job` and
`jobs:completed`, with progress on `update_job_progress` in between.

  e2e_comfyui_v0.3.64, e2e_comfyui_2024   the 04_progress_flags capture of each ComfyUI
        generation; outputs (file names, /view URLs) and the CDN image_url from ctx.storage
  e2e_a1111_txt2img_seed                   txt2img with a seed above 2^53: every digit survives
        into complete_job's info; several monotonic progress values from /sdapi/v1/progress
  e2e_a1111_img2img                        init_images -> img2img
Skipped (exit 77) when the plugin is not built. Helpers: tests/faults/faultlib.py.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'faults'))
from faultlib import (FakeBackend, Listener, TestSkip, Worker, check, failure_reason, main,  # noqa: E402
                      submit, wait_ready, wait_status, wait_until)

CHANNELS = ('complete_job', 'job_failed', 'update_job_progress')
BIG_SEED = 9007199254740993  # 2^53 + 1: not representable as a double


def need(ctx, plugin):
    if not os.path.exists(os.path.join(ctx.plugin_dir, plugin + '.so')):
        raise TestSkip('%s.so is not built' % plugin)


def start(ctx, plugin, fake_script, fake_args, options):
    need(ctx, plugin)
    srv = ctx.start_redis()
    r = srv.client()
    lst = Listener(srv, CHANNELS)
    fake = FakeBackend(ctx, fake_script, fake_args).start()
    opts = {'host': '127.0.0.1', 'port': fake.port}
    opts.update(options)
    w = Worker(ctx, 'e2e-' + plugin, connectors={plugin: opts}).start()
    wait_ready(r, w, timeout=60)
    wait_until(lambda: "connector '%s' is ready" % plugin in w.log(), 30, plugin + ' ready')
    return r, lst, w


def completed_once(r, lst, jid):
    wait_status(r, jid, ('completed', 'failed'), 60)
    st = r.hget('job:' + jid, 'status')
    check(st == 'completed', 'job %s completed (status %r, reason %r)'
          % (jid, st, failure_reason(r, jid)))
    wait_until(lambda: lst.count('complete_job', jid) >= 1, 5, 'complete_job of ' + jid)
    msgs = lst.json('complete_job', lambda m: m.get('job_id') == jid)
    check(len(msgs) == 1, 'exactly one complete_job (%d)' % len(msgs))
    m = msgs[0]
    check(m['status'] == 'completed' and m['progress'] == 100, 'complete_job status/progress')
    res = m['result']
    check(res['success'] is True and isinstance(res['data'], dict)
          and isinstance(res['processing_time_ms'], (int, float)), 'JobResult shape: %r'
          % {k: type(v).__name__ for k, v in res.items()})
    stored = json.loads(r.hget('jobs:completed', jid))
    check(stored['success'] is True and stored['data'] == res, 'jobs:completed holds the JobResult')
    progress = [p['progress'] for p in lst.json('update_job_progress',
                                                lambda p: p.get('job_id') == jid
                                                and p.get('status') == 'in_progress')]
    check(progress == sorted(progress), 'progress is monotonic: %r' % progress)
    return res['data'], progress


def comfyui(version):
    def test(ctx):
        fx = os.path.join(ctx.src, 'tests', 'fakes', 'comfyui_fixtures',
                          {'v0.3.64': 'v0.3.64-a125cd84', '2024': '2024-07-20-95fa9545'}[version],
                          '04_progress_flags.json')
        with open(fx) as f:
            workflow = json.load(f)['request']['prompt']
        r, lst, w = start(ctx, 'comfyui', 'fake_comfyui.py',
                          ['--version', version, '--scenario', 'progress'], {})
        job_ctx = {'storage': {'provider': 'azure', 'bucket': 'b', 'cdnUrl': 'cdn.example.test'},
                   'prefix': 'jobs/e2e'}
        jid = submit(r, service='comfyui', payload={'workflow': workflow},
                     extra={'ctx': json.dumps(job_ctx)})
        data, progress = completed_once(r, lst, jid)
        outs = data.get('outputs') or []
        check(outs and all(o.get('filename') and '/view?' in o.get('url', '') for o in outs),
              'outputs list every file with its /view URL: %r' % outs)
        check(data.get('image_url', '').startswith('https://cdn.example.test/jobs/e2e/')
              and data.get('image_url', '').endswith(outs[0]['filename']),
              'the CDN image_url: %r' % data.get('image_url'))
        check(data.get('mime_type') == 'image/png', 'mime_type %r' % data.get('mime_type'))
        check(len(set(progress)) >= 2, 'several progress values: %r' % progress)
        ctx.note('comfyui %s: %d output(s), progress %r', version, len(outs), progress)
        w.stop_clean()
    return test


def test_a1111_txt2img_seed(ctx):
    r, lst, w = start(ctx, 'a1111', 'fake_a1111.py', ['--step-ms', '60'],
                      {'poll_interval_ms': 100})
    raw = ('{"prompt":"a lighthouse","steps":12,"width":64,"height":64,"seed":%d}' % BIG_SEED)
    jid = submit(r, service='a1111', raw_payload=raw)
    data, progress = completed_once(r, lst, jid)
    check(isinstance(data.get('images'), list) and data['images'], 'images inline')
    info = data.get('info')
    check(isinstance(info, dict) and info.get('seed') == BIG_SEED,
          'info.seed keeps every digit: %r' % (info or {}).get('seed'))
    check(str(BIG_SEED) in r.hget('jobs:completed', jid), 'the stored result has the exact seed')
    check(len(set(p for p in progress if 0 < p < 100)) >= 2,
          'several intermediate progress values from the poll: %r' % progress)
    ctx.note('a1111 txt2img: progress %r', progress)
    w.stop_clean()


def test_a1111_img2img(ctx):
    r, lst, w = start(ctx, 'a1111', 'fake_a1111.py', ['--step-ms', '20'],
                      {'poll_interval_ms': 100})
    png = ('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA'
           'hKmMIQAAAABJRU5ErkJggg==')
    jid = submit(r, service='a1111', payload={'prompt': 'a boat', 'steps': 4,
                                              'init_images': [png], 'denoising_strength': 0.5})
    data, _ = completed_once(r, lst, jid)
    check(data.get('images'), 'img2img images')
    w.stop_clean()


TESTS = {
    'e2e_comfyui_v0.3.64': comfyui('v0.3.64'),
    'e2e_comfyui_2024': comfyui('2024'),
    'e2e_a1111_txt2img_seed': test_a1111_txt2img_seed,
    'e2e_a1111_img2img': test_a1111_img2img,
}

if __name__ == '__main__':
    sys.exit(main(TESTS))

#!/usr/bin/python3
"""Replay shared/protocol/claim-vectors.json against a jobMatching library.

Default mode ("own"): start a private redis-server on 127.0.0.1 (free port, no persistence, temp
dir), FUNCTION LOAD REPLACE core/lua/job_matching.lua, and replay every recorded case as
claim-vectors.md ("How a test should use it") describes:

  * FLUSHALL, run the case's setup commands, HSET the job hashes, ZADD jobs:pending;
  * a second connection is subscribed to job_claimed, update_job_progress and a private sentinel
    channel; after the FCALL the test publishes to the sentinel and reads until it arrives, so every
    message the call published has been delivered;
  * volatile values are checked against their regex and replaced by the placeholders
    (<sec.micro>, <ms>, <stream-id>), then reply, jobs, worker, pending (ordered, scores as
    strings), active (parsed), progress_stream (ordered, strict field order), published (ordered,
    JSON types included) and keys (as a set) are compared with the recording.

The 18 recorded error cases are deliberate differences (claim-vectors.md, "What emp-worker's own
function must do"); see DELIBERATE below for what is asserted for each. The expected post-state of
those cases is synthesised from the pre-call state; the same synthesiser is checked against the
recording in every recorded claim case, so it is known to agree with the reference's writes.

Mode "existing" (--function-source existing, or EMP_CLAIM_TEST_EXISTING=1) replays the same cases
against whatever jobMatching library is already loaded on --redis-url, without loading ours. It
flushes that database (FLUSHDB) before every case, so it refuses a non-empty database unless
--allow-flush is given. There, an error case passes with either an error reply and an unchanged
state, or the deliberate behaviour asserted for our own function.

Prints one line per case (PASS/FAIL <name>) and finally "N passed, M failed"; exits 1 on any
failure, 2 on a setup problem.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VECTORS = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'protocol', 'claim-vectors.json'))
DEFAULT_LUA = os.path.normpath(os.path.join(HERE, '..', '..', 'core', 'lua', 'job_matching.lua'))

SEC_MICRO = '<sec.micro>'
MS = '<ms>'
STREAM_ID = '<stream-id>'
SEC_MICRO_RE = re.compile(r'^\d+\.\d{6}$')
MS_RE = re.compile(r'^\d{13}$')
STREAM_ID_RE = re.compile(r'^\d+-\d+$')

STREAM_FIELD_ORDER = ['job_id', 'worker_id', 'status', 'progress', 'message', 'assigned_at']
JOB_CLAIMED_OPTIONAL = ['service_required', 'customer_id', 'workflow_id', 'step_number', 'total_steps']

PUBSUB_DEADLINE_S = 5.0
STARTUP_DEADLINE_S = 10.0

# ------------------------------------------------------------------------------------------------
# Deliberate differences: what our function must do where the reference raised a script error.
#
# kind 'worker': bad worker-side input. Expect an error reply whose text names the problem
#   (`mentions`), and nothing written.
# kind 'job': the data of one job is malformed (or, for the worker-map and worker-hardware cases,
#   cannot be compared with that job). That job is "not matching": it is not claimed, it stays in
#   jobs:pending with its hash untouched, and the scan goes on. `skipped` lists those jobs, `claims`
#   the job the continued scan must claim (None: nothing else in the window matches). The test
#   checks that `claims` comes after every skipped job in scan order, then compares the full
#   post-state with the synthesised one.
# ------------------------------------------------------------------------------------------------
DELIBERATE = {
    # worker side
    'caps_missing_worker_id_error': {'kind': 'worker', 'mentions': 'worker_id'},
    'caps_missing_worker_id_empty_pending_error': {'kind': 'worker', 'mentions': 'worker_id'},
    'caps_worker_id_null_error': {'kind': 'worker', 'mentions': 'worker_id'},
    'caps_invalid_json_error': {'kind': 'worker', 'mentions': 'JSON'},
    'max_scan_fractional_error': {'kind': 'worker', 'mentions': 'max_scan'},
    'workflow_worker_null_error': {'kind': 'worker', 'mentions': 'workflow_id'},
    'order_workflow_before_service': {'kind': 'worker', 'mentions': 'workflow_id'},
    # job side
    'map_non_string_item_mismatch_error': {
        'kind': 'job', 'skipped': ['job-svc-11'], 'claims': None,
        'note': 'a boolean in job_service_required_map is just not equal to "comfyui"'},
    'hw_required_string_number_error': {
        'kind': 'job', 'skipped': ['job-hw-13'], 'claims': None,
        'note': 'required gpu_memory_gb "16" (string) is malformed -> job not matching'},
    'hw_worker_string_number_error': {
        'kind': 'job', 'skipped': ['job-hw-14'], 'claims': None,
        'note': 'worker gpu_memory_gb "80" cannot be compared -> job not matching'},
    'order_hardware_before_isolation': {
        'kind': 'job', 'skipped': ['job-or-3'], 'claims': None,
        'note': 'string hardware value -> job not matching (isolation would reject it too)'},
    'requirements_json_null_error': {
        'kind': 'job', 'skipped': ['job-rq-5'], 'claims': None,
        'note': 'requirements "null" -> job not matching'},
    'requirements_json_number_error': {
        'kind': 'job', 'skipped': ['job-rq-6'], 'claims': None,
        'note': 'requirements "5" -> job not matching'},
    'requirements_json_string_error': {
        'kind': 'job', 'skipped': ['job-rq-7'], 'claims': None,
        'note': 'requirements "\\"comfyui\\"" -> job not matching'},
    'requirements_positive_null_error': {
        'kind': 'job', 'skipped': ['job-rq-8'], 'claims': None,
        'note': 'positive_requirements null -> job not matching'},
    'requirements_error_aborts_whole_scan': {
        'kind': 'job', 'skipped': ['job-rq-9'], 'claims': 'job-rq-10',
        'note': 'the broken top job is skipped and the scan claims the lower, matching job'},
    'models_boolean_item_error': {
        'kind': 'job', 'skipped': ['job-or-5'], 'claims': None,
        'note': 'required model true is not in the worker list -> job not matching'},
    'negative_hardware_not_object_error': {
        'kind': 'job', 'skipped': ['job-or-6'], 'claims': None,
        'note': 'negative_requirements.hardware 5 is malformed -> job not matching'},
}


class CaseFailure(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Small utilities
# ------------------------------------------------------------------------------------------------

def text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def same(a, b):
    """JSON equality that also compares types (True is not 1, "0" is not 0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def short(value, limit=700):
    s = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return s if len(s) <= limit else s[:limit] + '...'


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def scan_order(case):
    """Pending members in ZREVRANGE order: score descending, then member descending."""
    members = [(float(j['score']), j['id']) for j in case['jobs'] if j['in_pending']]
    members.sort(reverse=True)
    return [m for _, m in members]


def micro_tuple(stamp):
    sec, micro = stamp.split('.')
    return int(sec), int(micro)


# ------------------------------------------------------------------------------------------------
# redis-server lifecycle
# ------------------------------------------------------------------------------------------------

def start_redis(server_bin, workdir):
    """Start redis-server on a free loopback port; return (process, client) once PING answers."""
    last_error = 'not started'
    for _ in range(5):
        port = free_port()
        logfile = os.path.join(workdir, 'redis-%d.log' % port)
        proc = subprocess.Popen(
            [server_bin, '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
             '--dir', workdir, '--logfile', logfile, '--daemonize', 'no'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host='127.0.0.1', port=port, socket_timeout=5, socket_connect_timeout=1)
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = 'redis-server exited with %s (port %d); log: %s' % (proc.returncode, port, logfile)
                break
            try:
                if client.ping():
                    return proc, client
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)  # poll interval while the server comes up
        else:
            last_error = 'redis-server did not answer PING within %.0f s' % STARTUP_DEADLINE_S
        stop_redis(proc)
    raise RuntimeError(last_error)


def stop_redis(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM to this PID only
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# ------------------------------------------------------------------------------------------------
# Publications: a subscriber plus a sentinel channel
# ------------------------------------------------------------------------------------------------

class Listener:
    CHANNELS = ('job_claimed', 'update_job_progress')

    def __init__(self, client):
        self.client = client
        self.sentinel = 'claim-vectors-sentinel:%d:%d' % (os.getpid(), int(time.time() * 1000))
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(*self.CHANNELS, self.sentinel)
        self.counter = 0
        self.wait_subscribed(len(self.CHANNELS) + 1)
        self.drain()

    def wait_subscribed(self, count):
        """Wait for the server's SUBSCRIBE confirmations, so no publication can be missed."""
        deadline = time.monotonic() + PUBSUB_DEADLINE_S
        confirmed = 0
        while confirmed < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError('subscriptions not confirmed within %.0f s' % PUBSUB_DEADLINE_S)
            msg = self.pubsub.get_message(timeout=remaining)
            if msg is not None and msg.get('type') == 'subscribe':
                confirmed += 1

    def drain(self):
        """Publish a token to the sentinel and return every job message received before it."""
        self.counter += 1
        token = 'flush-%d' % self.counter
        self.client.publish(self.sentinel, token)
        received = []
        deadline = time.monotonic() + PUBSUB_DEADLINE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CaseFailure('sentinel message did not arrive within %.0f s' % PUBSUB_DEADLINE_S)
            msg = self.pubsub.get_message(timeout=remaining)
            if msg is None or msg.get('type') != 'message':
                continue
            channel = text(msg['channel'])
            data = text(msg['data'])
            if channel == self.sentinel:
                if data == token:
                    return received
                continue
            received.append((channel, data))

    def close(self):
        try:
            self.pubsub.close()
        except Exception:
            pass


# ------------------------------------------------------------------------------------------------
# Reading state
# ------------------------------------------------------------------------------------------------

def read_hash(client, key):
    return {text(k): text(v) for k, v in client.hgetall(key).items()}


def read_stream(client, key):
    entries = []
    for entry_id, fields in client.xrange(key, '-', '+'):
        entries.append({'id': text(entry_id), 'fields': [(text(k), text(v)) for k, v in fields.items()]})
    return entries


def read_state(client, case, claimed_id):
    """The post-state as listed under `after`, raw (not yet normalised). Stream fields are kept as
    ordered (name, value) pairs so that the field order can be checked."""
    wid = case['state_worker_id']
    state = {
        'jobs': {job_id: read_hash(client, 'job:' + job_id) for job_id in case['after']['jobs']},
        'pending': [[text(m), text(s)] for m, s in pairs(client.execute_command('ZRANGE', 'jobs:pending', 0, -1, 'WITHSCORES'))],
        'active': None,
        'worker': None,
        'progress_stream': read_stream(client, 'progress:' + claimed_id) if claimed_id else [],
        'keys': sorted(text(k) for k in client.keys('*')),
    }
    if wid is not None:
        raw_active = read_hash(client, 'jobs:active:' + wid)
        state['active'] = {}
        for field, value in raw_active.items():
            try:
                state['active'][field] = json.loads(value)
            except ValueError:
                state['active'][field] = {'<not json>': value}
        state['worker'] = read_hash(client, 'worker:' + wid)
    return state


def pairs(flat):
    return [flat[i:i + 2] for i in range(0, len(flat), 2)]


def all_streams(client, case):
    return {j['id']: read_stream(client, 'progress:' + j['id']) for j in case['jobs']}


# ------------------------------------------------------------------------------------------------
# Normalising our real values to the recording's placeholders (each checked against its regex)
# ------------------------------------------------------------------------------------------------

def normalise(state, published, claimed_id, streams_before, problems):
    """Replace volatile values by placeholders in place; return the real values for timing checks."""
    real = {}

    def swap(container, key, regex, placeholder, label):
        value = container.get(key)
        if not isinstance(value, str) or not regex.match(value):
            problems.append('%s: %r does not match %s' % (label, value, regex.pattern))
            return
        real[label] = value
        container[key] = placeholder

    if claimed_id:
        if claimed_id in state['jobs']:
            swap(state['jobs'][claimed_id], 'assigned_at', SEC_MICRO_RE, SEC_MICRO, 'job assigned_at')
        if state['worker'] is not None:
            swap(state['worker'], 'last_status_change', SEC_MICRO_RE, SEC_MICRO, 'worker last_status_change')
        old_ids = {e['id'] for e in streams_before.get(claimed_id, [])}
        for entry in state['progress_stream']:
            if entry['id'] in old_ids:
                continue
            if not STREAM_ID_RE.match(entry['id']):
                problems.append('stream id %r does not match %s' % (entry['id'], STREAM_ID_RE.pattern))
            entry['id'] = STREAM_ID
            names = [k for k, _ in entry['fields']]
            if names != STREAM_FIELD_ORDER:
                problems.append('stream field order %s, expected %s' % (names, STREAM_FIELD_ORDER))
            fields = dict(entry['fields'])
            swap(fields, 'assigned_at', SEC_MICRO_RE, SEC_MICRO, 'stream assigned_at')
            entry['fields'] = list(fields.items())

    for item in published:
        message = item['message']
        if not isinstance(message, dict):
            continue
        if item['channel'] == 'job_claimed' and 'claimed_at' in message:
            swap(message, 'claimed_at', SEC_MICRO_RE, SEC_MICRO, 'job_claimed claimed_at')
        if 'timestamp' in message:
            ts = message['timestamp']
            label = item['channel'] + ' timestamp'
            if isinstance(ts, bool) or not isinstance(ts, int) or not MS_RE.match(str(ts)):
                problems.append('%s: %r is not a 13-digit JSON integer' % (label, ts))
            else:
                real[label] = ts
                message['timestamp'] = MS
    return real


def check_timing(real, problems):
    """Facts from timing_observations: the four stamps never decrease in write order, timestamp is
    whole seconds * 1000 and its seconds equal those of claimed_at."""
    order = ['job assigned_at', 'worker last_status_change', 'job_claimed claimed_at', 'stream assigned_at']
    stamps = [real[k] for k in order if k in real]
    if len(stamps) == len(order):
        tuples = [micro_tuple(s) for s in stamps]
        if tuples != sorted(tuples):
            problems.append('timestamps decrease in write order: %s' % stamps)
    claimed_at = real.get('job_claimed claimed_at')
    for label in ('job_claimed timestamp', 'update_job_progress timestamp'):
        ts = real.get(label)
        if ts is None:
            continue
        if ts % 1000 != 0:
            problems.append('%s %d is not a whole second' % (label, ts))
        if claimed_at and ts // 1000 != micro_tuple(claimed_at)[0]:
            problems.append('%s %d does not match claimed_at %s' % (label, ts, claimed_at))


# ------------------------------------------------------------------------------------------------
# The expected state of a claim, synthesised from the pre-call state
# ------------------------------------------------------------------------------------------------

def synthesise(case, before, streams_before, claimed_id):
    """What the state must be after the call: `before` unchanged when nothing is claimed, otherwise
    `before` plus exactly the writes of one claim of `claimed_id` (placeholders for volatile values)."""
    expected = json.loads(json.dumps(before))
    expected['reply'] = None
    expected['published'] = []
    expected['progress_stream'] = []
    if claimed_id is None:
        return expected

    caps = json.loads(case['fcall_args'][0])
    raw_wid = caps['worker_id']
    wid = case['state_worker_id']
    job_before = before['jobs'][claimed_id]

    expected['reply'] = {'jobId': claimed_id, 'job': dict(job_before)}
    expected['jobs'][claimed_id].update({'status': 'assigned', 'worker_id': wid, 'assigned_at': SEC_MICRO})
    expected['pending'] = [p for p in expected['pending'] if p[0] != claimed_id]
    expected['active'][claimed_id] = dict(job_before)
    expected['worker'].update({'status': 'busy', 'current_job_id': claimed_id, 'last_status_change': SEC_MICRO})
    expected['progress_stream'] = json.loads(json.dumps(streams_before.get(claimed_id, []))) + [{
        'id': STREAM_ID,
        'fields': [['job_id', claimed_id], ['worker_id', wid], ['status', 'assigned'], ['progress', '0'],
                   ['message', 'Job assigned to worker'], ['assigned_at', SEC_MICRO]],
    }]
    claimed = {'job_id': claimed_id, 'worker_id': raw_wid, 'status': 'claimed', 'message': 'Job claimed by worker',
               'claimed_at': SEC_MICRO, 'timestamp': MS}
    for field in JOB_CLAIMED_OPTIONAL:
        if field in job_before:
            claimed[field] = job_before[field]
    expected['published'] = [
        {'channel': 'job_claimed', 'message': claimed},
        {'channel': 'update_job_progress',
         'message': {'progress': 0, 'timestamp': MS, 'job_id': claimed_id, 'worker_id': raw_wid}},
    ]
    keys = set(expected['keys'])
    keys |= {'job:' + claimed_id, 'jobs:active:' + wid, 'worker:' + wid, 'progress:' + claimed_id}
    if not expected['pending']:
        keys.discard('jobs:pending')
    expected['keys'] = sorted(keys)
    return expected


def recorded(case):
    """The recording's `after` (plus reply) in the same shape as read_state()."""
    after = case['after']
    return {
        'reply': case['reply'],
        'jobs': after['jobs'],
        'pending': after['pending'],
        'active': after['active'],
        'worker': after['worker'],
        'progress_stream': [{'id': e['id'], 'fields': [list(kv) for kv in e['fields'].items()]}
                            for e in after['progress_stream']],
        'published': [{'channel': p['channel'], 'message': p['message']} for p in after['published']],
        'keys': sorted(after['keys']),
    }


SECTIONS = ['reply', 'jobs', 'worker', 'pending', 'active', 'progress_stream', 'published', 'keys']


def compare(expected, actual, problems, prefix=''):
    for section in SECTIONS:
        exp = expected.get(section)
        act = actual.get(section)
        if section == 'keys':
            exp, act = sorted(set(exp)), sorted(set(act))
        if section == 'progress_stream':
            # strict: entries in order and fields in order
            exp = [[e['id'], [list(kv) for kv in e['fields']]] for e in exp]
            act = [[e['id'], [list(kv) for kv in e['fields']]] for e in act]
        if not same(exp, act):
            problems.append('%s%s differs\n      expected %s\n      got      %s' % (prefix, section, short(exp), short(act)))


# ------------------------------------------------------------------------------------------------
# Running one case
# ------------------------------------------------------------------------------------------------

class Runner:
    def __init__(self, client, listener, mode):
        self.client = client
        self.listener = listener
        self.mode = mode

    def prepare(self, case):
        if self.mode == 'own':
            self.client.flushall()
        else:
            self.client.flushdb()
        for command in case['setup']:
            self.client.execute_command(*command)
        for job in case['jobs']:
            if job['hash'] is not None and job['hash']:
                self.client.hset('job:' + job['id'], mapping=job['hash'])
            if job['in_pending']:
                self.client.execute_command('ZADD', 'jobs:pending', job['score'], job['id'])
        self.listener.drain()  # nothing from the setup may leak into this case's publications

    def call(self, case):
        """FCALL with the exact recorded arguments. Returns (reply_text_or_None, error_text_or_None)."""
        try:
            reply = self.client.execute_command('FCALL', 'findMatchingJob', 0, *case['fcall_args'])
        except redis.exceptions.ResponseError as exc:
            return None, str(exc)
        return (None if reply is None else text(reply)), None

    def run(self, case):
        """Returns (ok, note, problems)."""
        problems = []
        self.prepare(case)
        before_state = read_state(self.client, case, None)
        streams_before = all_streams(self.client, case)

        reply_text, error = self.call(case)
        messages = self.listener.drain()

        reply = None
        claimed_id = None
        if reply_text is not None:
            try:
                reply = json.loads(reply_text)
                claimed_id = reply.get('jobId') if isinstance(reply, dict) else None
            except ValueError:
                problems.append('reply is not JSON: %r' % reply_text[:200])
        if claimed_id is not None and claimed_id not in case['after']['jobs']:
            problems.append('claimed an unknown job %r' % claimed_id)
            claimed_id = None

        published = []
        for channel, data in messages:
            try:
                message = json.loads(data)
            except ValueError:
                message = {'<not json>': data}
            published.append({'channel': channel, 'message': message})

        actual = read_state(self.client, case, claimed_id)
        actual['reply'] = reply
        actual['published'] = published
        real = normalise(actual, published, claimed_id, streams_before, problems)
        check_timing(real, problems)

        if case['error'] is None:
            return self.run_recorded(case, actual, before_state, streams_before, error, problems)
        return self.run_error_case(case, actual, before_state, streams_before, error, problems)

    def run_recorded(self, case, actual, before_state, streams_before, error, problems):
        if error is not None:
            problems.append('unexpected error reply: %s' % error)
        compare(recorded(case), actual, problems)
        # Self-check of the synthesiser used for the deliberate-difference cases.
        expected_claim = case['reply']['jobId'] if case['reply'] else None
        compare(recorded(case), synthesise(case, before_state, streams_before, expected_claim), problems,
                prefix='test self-check (synthesised expectation vs recording): ')
        return not problems, '', problems

    def run_error_case(self, case, actual, before_state, streams_before, error, problems):
        rule = DELIBERATE.get(case['name'])
        if rule is None:
            problems.append('recorded error case without a declared deliberate behaviour (add it to DELIBERATE): %s'
                            % case['error_core'])
            return False, '', problems

        unchanged = synthesise(case, before_state, streams_before, None)
        # The reference wrote nothing in any error case: the recording is the unchanged state too.
        compare(recorded(case), unchanged, problems, prefix='test self-check (pre-state vs recording): ')

        if self.mode == 'existing' and error is not None:
            compare(unchanged, actual, problems, prefix='after an error reply: ')
            return not problems, 'error reply, state unchanged: %s' % error, problems

        if rule['kind'] == 'worker':
            if self.mode == 'existing':
                # "error reply or skip": no error, but nothing may have been claimed or written
                compare(unchanged, actual, problems, prefix='worker-side bad input: ')
                return not problems, 'no error reply, nothing written', problems
            if error is None:
                problems.append('expected an error reply for bad worker-side input, got reply %r' % actual['reply'])
            elif rule['mentions'].lower() not in error.lower():
                problems.append('error reply %r does not mention %r' % (error, rule['mentions']))
            compare(unchanged, actual, problems, prefix='worker-side bad input must write nothing: ')
            return not problems, 'deliberate: error reply %r, nothing written' % error, problems

        # job side: the malformed job is skipped, the scan continues
        if error is not None:
            problems.append('expected the malformed job to be skipped, got error reply: %s' % error)
            return False, '', problems
        order = scan_order(case)
        for job_id in rule['skipped']:
            if job_id not in order:
                problems.append('test table: skipped job %s is not pending in this case' % job_id)
        if rule['claims'] is not None:
            if rule['claims'] not in order or any(order.index(rule['claims']) < order.index(s)
                                                  for s in rule['skipped'] if s in order):
                problems.append('test table: %s does not come after the skipped jobs in scan order' % rule['claims'])
        for job_id in rule['skipped']:
            score = next(j['score'] for j in case['jobs'] if j['id'] == job_id)
            if actual['reply'] and actual['reply'].get('jobId') == job_id:
                problems.append('malformed job %s was claimed' % job_id)
            if actual['jobs'].get(job_id) != before_state['jobs'].get(job_id):
                problems.append('malformed job %s: hash changed' % job_id)
            if not any(m == job_id for m, _ in actual['pending']):
                problems.append('malformed job %s left jobs:pending (score was %s)' % (job_id, score))
            if actual['active'] and job_id in actual['active']:
                problems.append('malformed job %s is in jobs:active' % job_id)
        expected = synthesise(case, before_state, streams_before, rule['claims'])
        compare(expected, actual, problems, prefix='deliberate (skip malformed job, continue scan): ')
        what = 'claimed %s' % rule['claims'] if rule['claims'] else 'nil'
        return not problems, 'deliberate: skipped %s, %s; %s' % (', '.join(rule['skipped']), what, rule['note']), problems


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--vectors', default=DEFAULT_VECTORS, help='claim-vectors.json (default: %(default)s)')
    p.add_argument('--lua', default=DEFAULT_LUA, help='library to load in "own" mode (default: %(default)s)')
    p.add_argument('--function-source', choices=['own', 'existing'],
                   default='existing' if os.environ.get('EMP_CLAIM_TEST_EXISTING') == '1' else 'own',
                   help='"own": private redis-server with our library (default); "existing": whatever '
                        'jobMatching is loaded on --redis-url (also EMP_CLAIM_TEST_EXISTING=1)')
    p.add_argument('--redis-url', default=os.environ.get('EMP_CLAIM_TEST_REDIS_URL'),
                   help='server for "existing" mode; its database is FLUSHed before every case')
    p.add_argument('--allow-flush', action='store_true',
                   help='"existing" mode: allow flushing a database that is not empty')
    p.add_argument('--redis-server', default=shutil.which('redis-server') or '/usr/bin/redis-server',
                   help='redis-server binary for "own" mode (default: %(default)s)')
    p.add_argument('--case', action='append', default=[], help='run only this case (repeatable)')
    return p.parse_args(argv)


def setup_failed(message, passed=0, failed=0):
    print('setup failed: %s' % message, file=sys.stderr)
    print('%d passed, %d failed' % (passed, failed + 1))
    return 2


def main(argv):
    args = parse_args(argv)
    with open(args.vectors, encoding='utf-8') as f:
        vectors = json.load(f)
    cases = vectors['cases']
    if args.case:
        unknown = set(args.case) - {c['name'] for c in cases}
        if unknown:
            print('unknown case(s): %s' % ', '.join(sorted(unknown)), file=sys.stderr)
            return 2
        cases = [c for c in cases if c['name'] in args.case]

    recorded_errors = {c['name'] for c in vectors['cases'] if c['error'] is not None}
    stale = set(DELIBERATE) - recorded_errors
    if stale:
        print('DELIBERATE names cases that are not recorded errors: %s' % ', '.join(sorted(stale)), file=sys.stderr)
        return 2

    proc = None
    workdir = None
    listener = None
    passed = failed = 0
    try:
        if args.function_source == 'own':
            workdir = tempfile.mkdtemp(prefix='claim-vectors-')
            proc, client = start_redis(args.redis_server, workdir)
            with open(args.lua, encoding='utf-8') as f:
                source = f.read()
            client.execute_command('FUNCTION', 'LOAD', 'REPLACE', source)
        else:
            if not args.redis_url:
                return setup_failed('--function-source existing needs --redis-url (or EMP_CLAIM_TEST_REDIS_URL)')
            client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
            if client.dbsize() and not args.allow_flush:
                return setup_failed('refusing to FLUSHDB a non-empty database at %s (pass --allow-flush)'
                                    % args.redis_url)
            print('note: running against the jobMatching library already loaded on %s' % args.redis_url)

        libraries = client.execute_command('FUNCTION', 'LIST', 'LIBRARYNAME', 'jobMatching')
        if 'findMatchingJob' not in json.dumps(libraries, default=text):
            return setup_failed('library jobMatching with findMatchingJob is not loaded')

        listener = Listener(client)
        runner = Runner(client, listener, args.function_source)
        for case in cases:
            try:
                ok, note, problems = runner.run(case)
            except (CaseFailure, redis.exceptions.RedisError) as exc:
                ok, note, problems = False, '', ['%s: %s' % (type(exc).__name__, exc)]
            if ok:
                passed += 1
                print('PASS %s%s' % (case['name'], ' (%s)' % note if note else ''))
            else:
                failed += 1
                print('FAIL %s' % case['name'])
                for problem in problems:
                    print('    ' + problem)
            sys.stdout.flush()
    except (OSError, RuntimeError, redis.exceptions.RedisError) as exc:
        return setup_failed(str(exc), passed, failed)
    finally:
        if listener is not None:
            listener.close()
        stop_redis(proc)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

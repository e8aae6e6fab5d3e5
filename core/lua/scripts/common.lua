-- common.lua: helpers shared by the worker's EVAL scripts (prepended to each at build time).
-- The queue score is the API's formula (emp-job-queue.md section 3.6):
--   score = P * 1e15 - floor(T / 1000), P = workflow_priority || priority (default 50),
--   T = workflow_datetime (ms) || Date.parse(created_at) (ms).
-- so a requeued job keeps its place by priority and age instead of sinking.

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function iso_ms(s)
  if type(s) ~= 'string' then return nil end
  local y, mo, d, h, mi, sec, frac =
    string.match(s, '^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)')
  if not y then return nil end
  local ms = 0
  if frac ~= '' then ms = tonumber(string.sub(frac .. '000', 1, 3)) end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(sec) * 1000 + ms
end

local function truthy_number(v)
  local n = tonumber(v)
  if n == nil or n == 0 then return nil end
  return n
end

local function hash_of(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function api_score(job, now_ms)
  local p = truthy_number(job['workflow_priority']) or truthy_number(job['priority']) or 50
  local t = truthy_number(job['workflow_datetime']) or iso_ms(job['created_at']) or now_ms
  return string.format('%.17g', p * 1e15 - math.floor(t / 1000))
end

local function is_active_status(s)
  return s == 'assigned' or s == 'in_progress'
end

-- Attestation key (section 1): worker:<kind>:[job-id:<wf>:]step-id:<stepId><suffix>
local function attest_key(kind, job_id, wf, suffix)
  local step = string.gsub(job_id, '^step%-', '')
  local k = 'worker:' .. kind .. ':'
  if wf ~= nil and wf ~= '' then k = k .. 'job-id:' .. wf .. ':' end
  return k .. 'step-id:' .. step .. suffix
end

-- Marks the worker idle and publishes the two status events built by the worker.
local function worker_idle(wid, iso, status_msg, machine_chan, machine_msg)
  redis.call('HSET', 'worker:' .. wid, 'status', 'idle', 'last_status_change', iso,
             'current_job_id', '')
  redis.call('PUBLISH', 'worker_status', status_msg)
  if machine_chan ~= '' then redis.call('PUBLISH', machine_chan, machine_msg) end
end

-- A failed attempt: retry (back to pending, now or after a backoff) or permanent failure.
-- Returns 'retry', 'delayed' or 'failed'.
local function fail_attempt(job_id, job, wid, iso, now_ms, retryable, err, backoff_ms,
                            machine_id, version, failure_type)
  local jk = 'job:' .. job_id
  local new_count = (tonumber(job['retry_count']) or 0) + 1
  local max_retries = truthy_number(job['max_retries']) or 3
  local will_retry = retryable and new_count < max_retries
  local wf = job['workflow_id'] or ''
  local att = {
    attestation_type = will_retry and 'failure_retry' or 'failure_permanent',
    job_id = job_id, worker_id = wid,
    status = will_retry and 'failed_retrying' or 'failed_permanent',
    failed_at = iso, error_message = err,
    failure_type = failure_type, failure_reason = failure_type, failure_description = err,
    retry_count = new_count, will_retry = will_retry, max_retries = max_retries,
    workflow_id = wf, current_step = job['current_step'] or '', total_steps = job['total_steps'] or '',
    workflow_impact = will_retry and 'step_retry' or 'step_failed',
    machine_id = machine_id, worker_version = version, attestation_created_at = iso,
  }
  local att_json = cjson.encode(att)
  local outcome
  if will_retry then
    redis.call('SET', attest_key('failure', job_id, wf, ':attempt:' .. new_count), att_json)
    redis.call('HSET', jk, 'status', 'pending', 'worker_id', '', 'assigned_at', '',
               'retry_count', tostring(new_count), 'last_failed_worker', wid, 'failed_at', iso)
    if backoff_ms > 0 then
      redis.call('ZADD', 'jobs:retry_delayed', string.format('%.17g', now_ms + backoff_ms), job_id)
      outcome = 'delayed'
    else
      redis.call('ZADD', 'jobs:pending', api_score(job, now_ms), job_id)
      redis.call('PUBLISH', 'emp-worker:wake', job['service_required'] or '')
      outcome = 'retry'
    end
  else
    redis.call('SET', attest_key('failure', job_id, wf, ':permanent'), att_json)
    redis.call('SET', attest_key('completion', job_id, wf, ''), att_json)
    if wf ~= '' then redis.call('SET', 'workflow:failure:' .. wf .. ':permanent', att_json) end
    redis.call('HSET', jk, 'status', 'failed', 'failed_at', iso, 'retry_count', tostring(new_count),
               'last_failed_worker', wid)
    redis.call('HSET', 'jobs:failed', job_id,
               cjson.encode({error = err, failed_at = iso, retry_count = new_count}))
    redis.call('EXPIRE', 'jobs:failed', 604800)
    local msg = {job_id = job_id, worker_id = wid, status = 'failed', error = err, failed_at = iso,
                 retry_count = new_count, can_retry = false, timestamp = now_ms}
    if wf ~= '' then
      msg.workflow_id = wf
      msg.current_step = tonumber(job['current_step']) or job['current_step']
      msg.total_steps = tonumber(job['total_steps']) or job['total_steps']
    end
    redis.call('PUBLISH', 'job_failed', cjson.encode(msg))
    outcome = 'failed'
  end
  return outcome
end

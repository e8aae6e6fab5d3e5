#!lua name=jobMatching
--[[
emp-worker's own Redis Function library `jobMatching` (Redis >= 7.0).

  FCALL findMatchingJob 0 <capabilities JSON> [max_scan]

Claims, atomically, the first job in `jobs:pending` (highest score first) that this worker may run,
and returns `{"jobId":<member>,"job":{<job hash as read before the claim>}}` as a bulk string, or nil
when nothing matches. Written from the protocol notes (shared/protocol/emp-job-queue.md section 3.2
and 3.3) and checked against the recorded behaviour of the reference function
(shared/protocol/claim-vectors.json, replayed by tests/claim/test_claim_vectors.py). The library
name, function name, arguments, reply and every key, field, channel and message it writes are the
interop contract with the existing API, monitor and webhook service.

Deliberate differences from the reference (see claim-vectors.md, "What emp-worker's own function
must do"):
  * Malformed data in ONE job (requirements that decode to null/number/string, hardware values that
    are not numbers, a boolean model name, positive_requirements null, negative hardware that is
    not an object, a job key of the wrong type, ...) makes that job "not matching": it stays in
    jobs:pending untouched and the scan goes on. The reference raises a script error there, which
    blocks every worker behind that one job. Each job is evaluated under pcall, so nothing a job
    contains can abort the scan.
  * Bad worker-side input (capabilities that are not a JSON object, a missing/empty/null or
    fractional worker_id, a workflow_id that is null or not a string/number, a max_scan that is not
    a whole number) gets a clear error reply and nothing is written. The C worker validates these
    before calling, so this is a guard, not a code path. Where the reference's script error came
    from building a log line rather than from matching (a non-string item in
    job_service_required_map), ours simply compares and moves on.
  * Before the first write of a claim, the key types the claim writes to are checked, so a claim
    is never left half-written by a WRONGTYPE error.
  * One TIME read per claim: assigned_at, last_status_change, claimed_at and the stream's
    assigned_at are identical (the reference reads the clock four times; the notes allow either).

This library may gain more functions later (the core owns that); keep `jobMatching` and
`findMatchingJob` as they are.
]]

local PENDING_KEY = 'jobs:pending'
local DEFAULT_MAX_SCAN = 100
local MAX_SAFE_INTEGER = 9007199254740992 -- 2^53: beyond this a double is no longer a whole number we can print

---------------------------------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------------------------------

-- A decoded JSON value that Lua treats as "set": anything but nil and false. Note that cjson.null
-- (JSON null) is set, exactly as in the reference.
local function is_set(value)
  return value ~= nil and value ~= false
end

-- cjson decodes both [] and {} to a Lua table. A table whose keys are all numbers came from a JSON
-- array; an empty table counts as an array (this is the reference's `{}` quirk, which the vectors
-- pin down: a required `{}` behaves like an empty list).
local function is_array(t)
  if type(t) ~= 'table' then
    return false
  end
  for key in pairs(t) do
    if type(key) ~= 'number' then
      return false
    end
  end
  return true
end

-- Plain `==` membership over the array part of a table (a JSON array).
local function array_contains(list, value)
  if type(list) ~= 'table' then
    return false
  end
  for _, item in ipairs(list) do
    if item == value then
      return true
    end
  end
  return false
end

-- Raised for data that a job should not contain; the per-job pcall turns it into "not matching".
local function malformed(what)
  error('malformed job data: ' .. what, 0)
end

-- "<unix seconds>.<6-digit micros>" (string) and whole seconds * 1000 (number) from one TIME read.
local function claim_clock()
  local t = redis.call('TIME')
  local stamp = string.format('%s.%06d', t[1], tonumber(t[2]))
  return stamp, tonumber(t[1]) * 1000
end

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

---------------------------------------------------------------------------------------------------
-- Worker-side input (validated once, before jobs:pending is read)
---------------------------------------------------------------------------------------------------

-- Returns the decoded capabilities and the worker id as used in key names, or nil and a message.
local function parse_capabilities(raw)
  if type(raw) ~= 'string' then
    return nil, nil, 'capabilities argument is missing'
  end
  local ok, caps = pcall(cjson.decode, raw)
  if not ok then
    return nil, nil, 'capabilities are not valid JSON (' .. tostring(caps) .. ')'
  end
  if type(caps) ~= 'table' then
    return nil, nil, 'capabilities must be a JSON object'
  end

  -- worker_id: a non-empty string, or a whole number (the keys then use its decimal form, as the
  -- reference does for `"worker_id":123`).
  local wid = caps.worker_id
  local wid_key
  if type(wid) == 'string' and wid ~= '' then
    wid_key = wid
  elseif type(wid) == 'number' and wid == math.floor(wid) and math.abs(wid) < MAX_SAFE_INTEGER then
    wid_key = string.format('%d', wid)
  else
    return nil, nil, 'capabilities.worker_id must be a non-empty string or a whole number'
  end

  -- workflow_id restricts the worker to one workflow. Absent, false or "" means unrestricted; a
  -- string or number is compared with ==. Anything else (JSON null, an object) is rejected instead
  -- of being guessed at: silently unrestricted or silently matching nothing would both be wrong.
  local wf = caps.workflow_id
  if wf ~= nil and wf ~= false and type(wf) ~= 'string' and type(wf) ~= 'number' then
    return nil, nil, 'capabilities.workflow_id must be a string or a number when present'
  end

  return caps, wid_key
end

-- max_scan -> the stop index for ZREVRANGE 0 <stop>. Absent or non-numeric means 100; 0 means the
-- whole queue (stop -1); -n means all but the lowest n entries (stop -n-1). A number that is not a
-- whole number (2.5, inf, nan, 1e300) is refused.
local function parse_max_scan(raw)
  local n = tonumber(raw)
  if n == nil then
    n = DEFAULT_MAX_SCAN
  end
  if n ~= n or n ~= math.floor(n) or math.abs(n) >= MAX_SAFE_INTEGER then
    return nil, 'max_scan must be a whole number (got ' .. tostring(raw) .. ')'
  end
  return string.format('%d', n - 1)
end

---------------------------------------------------------------------------------------------------
-- Matching rules (emp-job-queue.md section 3.3), in the reference's evaluation order:
--   workflow -> service -> requirements (hardware, customer isolation, models, custom keys)
--   -> negative requirements. Every check is a conjunction, so the first "no" ends the job.
---------------------------------------------------------------------------------------------------

-- Rule 1, workflow restriction: a worker with a non-empty workflow_id only takes jobs whose
-- workflow_id is equal to it (same type too: 123 never equals "123").
local function workflow_allows(worker, job)
  local wanted = worker.workflow_id
  if not is_set(wanted) or wanted == '' then
    return true
  end
  return job.workflow_id == wanted
end

-- Rule 2, service: a job with a service_required field (even "") needs that exact string in the
-- worker's job_service_required_map array. The `services` array is not looked at. A job without
-- the field passes.
local function service_allows(worker, job)
  local service = job.service_required
  if service == nil then
    return true
  end
  return array_contains(worker.job_service_required_map, service)
end

-- The job's requirements JSON. Absent, "" or not JSON at all is {} (as in the reference). JSON that
-- parses to something other than an object/array (null, 5, "comfyui", true) is malformed.
local function decode_requirements(raw)
  if raw == nil or raw == '' then
    return {}
  end
  local ok, value = pcall(cjson.decode, raw)
  if not ok then
    return {}
  end
  if type(value) ~= 'table' then
    malformed('requirements is ' .. type(value) .. ' JSON, not an object')
  end
  return value
end

-- Rule 3a, hardware: each of gpu_memory_gb / cpu_cores / ram_gb that is required (present, not
-- false, not 'all'; 0 counts as required) must exist in worker.hardware and be >= the requirement.
-- Other hardware keys are ignored. Both sides must be numbers; a string here is malformed data.
local HARDWARE_KEYS = { 'gpu_memory_gb', 'cpu_cores', 'ram_gb' }

local function hardware_allows(worker, required)
  if not is_set(required) then
    return true
  end
  if type(required) ~= 'table' then
    malformed('requirements hardware is not an object')
  end
  for _, key in ipairs(HARDWARE_KEYS) do
    local need = required[key]
    if is_set(need) and need ~= 'all' then
      local have = nil
      if type(worker.hardware) == 'table' then
        have = worker.hardware[key]
      end
      if not is_set(have) then
        return false
      end
      if type(need) ~= 'number' or type(have) ~= 'number' then
        malformed('hardware ' .. key .. ' compares ' .. type(have) .. ' with ' .. type(need))
      end
      if have < need then
        return false
      end
    end
  end
  return true
end

-- Rule 3b, customer isolation. Only when the requirement key is set (any value but false, even
-- 'loose'):
--   * 'strict' needs worker.customer_access.isolation == 'strict';
--   * if the job has a customer_id field (even ""), it must be in customer_access.allowed_customers
--     (when that is a list) and must not be in customer_access.denied_customers (when a list).
local function customer_allows(worker, job, isolation)
  if not is_set(isolation) then
    return true
  end
  local access = worker.customer_access
  if type(access) ~= 'table' then
    access = nil
  end
  if isolation == 'strict' and (access == nil or access.isolation ~= 'strict') then
    return false
  end
  local customer = job.customer_id
  if customer == nil or access == nil then
    return true
  end
  local allowed = access.allowed_customers
  if type(allowed) == 'table' and not array_contains(allowed, customer) then
    return false
  end
  local denied = access.denied_customers
  if type(denied) == 'table' and array_contains(denied, customer) then
    return false
  end
  return true
end

-- Rule 3c, models: a required list (not 'all', not a single string) needs every item in
-- worker.models[job.service_required]. A job without service_required has nowhere to look, so any
-- required model fails it. An empty list requires nothing.
local function models_allow(worker, job, required)
  if type(required) ~= 'table' then
    return true
  end
  for _, model in ipairs(required) do
    local available = nil
    if type(worker.models) == 'table' and job.service_required ~= nil then
      available = worker.models[job.service_required]
    end
    if not array_contains(available, model) then
      return false
    end
  end
  return true
end

-- Rule 3d, custom capabilities: the worker value at a dotted path ("performance.max_processing_time_minutes").
local function worker_value_at(worker, path)
  local node = worker
  local found_part = false
  for part in string.gmatch(tostring(path), '[^.]+') do
    if type(node) ~= 'table' then
      return nil
    end
    node = node[part]
    found_part = true
  end
  if not found_part then
    return nil
  end
  return node
end

-- Rule 3d, compare one required value with the worker's value:
--   required list (or {})  -> the worker value is a list that holds every required item
--   required object        -> matched key by key, one level deep; at the second level an object
--                             never matches (the reference compares it by identity)
--   worker list            -> it holds the required scalar
--   required number        -> worker number >= required
--   anything else          -> exact equality (no type coercion: "4" ~= 4)
local function value_satisfies(have, need, allow_nested_object)
  if type(need) == 'table' then
    if is_array(need) then
      if not is_array(have) then
        return false
      end
      for _, item in ipairs(need) do
        if not array_contains(have, item) then
          return false
        end
      end
      return true
    end
    if not allow_nested_object or type(have) ~= 'table' then
      return false
    end
    for key, sub_need in pairs(need) do
      local sub_have = have[key]
      if sub_have == nil or not value_satisfies(sub_have, sub_need, false) then
        return false
      end
    end
    return true
  end
  if type(have) == 'table' then
    return is_array(have) and array_contains(have, need)
  end
  if type(need) == 'number' then
    return type(have) == 'number' and have >= need
  end
  return have == need
end

-- A worker "has" a custom capability when the path exists (false counts, missing never matches)
-- and the value satisfies the requirement.
local function has_capability(worker, key, need)
  local have = worker_value_at(worker, key)
  if have == nil then
    return false
  end
  return value_satisfies(have, need, true)
end

-- Keys of the positive requirements that are not custom capabilities.
local NOT_CUSTOM = { service_type = true, hardware = true, customer_isolation = true, models = true }

-- Rule 3, the positive requirements: `positive_requirements` when set, else the flat object itself
-- (then sibling keys such as negative_requirements are custom capabilities, which is why the flat
-- form with negative_requirements rejects every worker).
local function positive_allows(worker, job, requirements)
  local positive = requirements.positive_requirements
  if not is_set(positive) then
    positive = requirements
  end
  if type(positive) ~= 'table' then
    malformed('positive_requirements is not an object')
  end
  if not hardware_allows(worker, positive.hardware) then
    return false
  end
  if not customer_allows(worker, job, positive.customer_isolation) then
    return false
  end
  if not models_allow(worker, job, positive.models) then
    return false
  end
  for key, need in pairs(positive) do
    if not NOT_CUSTOM[key] and not has_capability(worker, key, need) then
      return false
    end
  end
  return true
end

-- Rule 4, negative requirements (always read from the top level): the job is refused when the
-- worker has any of them. `hardware` is per key: a worker number >= the listed number, or an equal
-- value, counts as having it (only checked when the worker sends a hardware object). Other keys
-- use the custom capability test above.
local function negative_allows(worker, requirements)
  local negative = requirements.negative_requirements
  if not is_set(negative) then
    return true
  end
  if type(negative) ~= 'table' then
    malformed('negative_requirements is not an object')
  end
  for key, avoid in pairs(negative) do
    if key == 'hardware' then
      local hardware = worker.hardware
      if type(hardware) == 'table' then
        if type(avoid) ~= 'table' then
          malformed('negative_requirements hardware is not an object')
        end
        for hw_key, hw_avoid in pairs(avoid) do
          local have = hardware[hw_key]
          if have ~= nil then
            if type(have) == 'number' and type(hw_avoid) == 'number' then
              if have >= hw_avoid then
                return false
              end
            elseif have == hw_avoid then
              return false
            end
          end
        end
      end
    elseif has_capability(worker, key, avoid) then
      return false
    end
  end
  return true
end

-- All rules for one job. Returns true or false; raises (caught by the caller) on malformed data.
local function job_matches(worker, job)
  if not workflow_allows(worker, job) then
    return false
  end
  if not service_allows(worker, job) then
    return false
  end
  local requirements = decode_requirements(job.requirements)
  if not positive_allows(worker, job, requirements) then
    return false
  end
  return negative_allows(worker, requirements)
end

---------------------------------------------------------------------------------------------------
-- Reading a candidate and writing the claim
---------------------------------------------------------------------------------------------------

-- HGETALL job:<id> as a Lua table, or nil when the key is missing (the id then stays in
-- jobs:pending, as in the reference) or is not a hash (malformed; also left in place).
local function read_job(id)
  local reply = redis.pcall('HGETALL', 'job:' .. id)
  if type(reply) ~= 'table' or reply['err'] ~= nil or #reply == 0 then
    return nil
  end
  local job = {}
  for i = 1, #reply, 2 do
    job[reply[i]] = reply[i + 1]
  end
  return job
end

-- The claim's writes, in the reference's order. `job` is the hash as read before the claim.
local function write_claim(id, job, worker, wid_key)
  local stamp, stamp_ms = claim_clock()
  local job_json = cjson.encode(job)

  redis.call('HMSET', 'job:' .. id, 'status', 'assigned', 'worker_id', wid_key, 'assigned_at', stamp)
  redis.call('HSET', 'jobs:active:' .. wid_key, id, job_json)
  redis.call('HMSET', 'worker:' .. wid_key,
    'status', 'busy', 'current_job_id', id, 'last_status_change', stamp)

  -- Fields whose source is missing from the hash are left out (nil); "" is kept. worker_id is the
  -- capabilities value as given (a number stays a number).
  redis.call('PUBLISH', 'job_claimed', cjson.encode({
    job_id = id,
    worker_id = worker.worker_id,
    status = 'claimed',
    message = 'Job claimed by worker',
    claimed_at = stamp,
    timestamp = stamp_ms,
    service_required = job.service_required,
    customer_id = job.customer_id,
    workflow_id = job.workflow_id,
    step_number = job.step_number,
    total_steps = job.total_steps,
  }))
  redis.call('PUBLISH', 'update_job_progress', cjson.encode({
    job_id = id,
    worker_id = worker.worker_id,
    progress = 0,
    timestamp = stamp_ms,
  }))

  redis.call('XADD', 'progress:' .. id, '*',
    'job_id', id,
    'worker_id', wid_key,
    'status', 'assigned',
    'progress', '0',
    'message', 'Job assigned to worker',
    'assigned_at', stamp)

  return cjson.encode({ jobId = id, job = job })
end

-- The worker-side keys a claim writes must be hashes (or absent). Checked only when there is a
-- match, so an idle poll costs nothing extra.
local function worker_keys_usable(wid_key)
  for _, key in ipairs({ 'worker:' .. wid_key, 'jobs:active:' .. wid_key }) do
    local t = key_type(key)
    if t ~= 'none' and t ~= 'hash' then
      return false, key .. ' is a ' .. t .. ', not a hash'
    end
  end
  return true
end

---------------------------------------------------------------------------------------------------
-- findMatchingJob
---------------------------------------------------------------------------------------------------

local function find_matching_job(keys, args)
  local worker, wid_key, caps_err = parse_capabilities(args[1])
  if worker == nil then
    return redis.error_reply('ERR findMatchingJob: ' .. caps_err)
  end
  local stop, scan_err = parse_max_scan(args[2])
  if stop == nil then
    return redis.error_reply('ERR findMatchingJob: ' .. scan_err)
  end

  local candidates = redis.call('ZREVRANGE', PENDING_KEY, '0', stop)
  for _, id in ipairs(candidates) do
    local job = read_job(id)
    if job ~= nil then
      local ok, matched = pcall(job_matches, worker, job)
      if not ok then
        redis.log(redis.LOG_VERBOSE,
          'findMatchingJob: job ' .. id .. ' skipped: ' .. tostring(matched))
      elseif matched then
        local usable, why = worker_keys_usable(wid_key)
        if not usable then
          return redis.error_reply('ERR findMatchingJob: ' .. why)
        end
        local stream_type = key_type('progress:' .. id)
        if stream_type ~= 'none' and stream_type ~= 'stream' then
          redis.log(redis.LOG_VERBOSE,
            'findMatchingJob: job ' .. id .. ' skipped: progress:' .. id .. ' is a ' .. stream_type)
        elseif redis.call('ZREM', PENDING_KEY, id) == 1 then
          return write_claim(id, job, worker, wid_key)
        end
      end
    end
  end
  return nil
end

redis.register_function('findMatchingJob', find_matching_job)

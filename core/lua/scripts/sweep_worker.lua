-- sweep_worker: requeue (or fail, once retries are spent) the jobs held by a worker whose
-- heartbeat has expired, atomically, so that two sweepers never requeue the same job twice.
-- ARGV: dead_worker_id, iso_now, now_ms, force (1 = our own leftovers at start-up: skip the
--       heartbeat check), sweeper_id, machine_id, version
-- Returns {requeued, failed, stale_entries_removed} or {-1} when the worker is alive.
local dead, iso, now_ms, force = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
if not force and redis.call('EXISTS', 'worker:' .. dead .. ':heartbeat') == 1 then return {-1} end
local ak = 'jobs:active:' .. dead
local ids = redis.call('HKEYS', ak)
local requeued, failed, stale = 0, 0, 0
for _, id in ipairs(ids) do
  local job = hash_of('job:' .. id)
  if job['worker_id'] == dead and is_active_status(job['status']) then
    local err = 'Worker disconnected/timeout: ' .. dead
    if force then err = 'Worker restarted: ' .. dead end
    local outcome = fail_attempt(id, job, dead, iso, now_ms, true, err, 0, ARGV[6], ARGV[7],
                                 'worker_lost')
    if outcome == 'failed' then failed = failed + 1 else requeued = requeued + 1 end
  else
    stale = stale + 1
  end
  redis.call('HDEL', ak, id)
end
if not force and redis.call('EXISTS', 'worker:' .. dead) == 1 then
  redis.call('HSET', 'worker:' .. dead, 'status', 'offline', 'current_job_id', '')
  redis.call('SREM', 'workers:active', dead)
end
return {requeued, failed, stale}

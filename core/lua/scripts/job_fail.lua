-- job_fail: the fenced failure path (emp-job-queue.md 5.1 step 7) in one atomic call.
-- ARGV: job_id, worker_id, iso_now, now_ms, retryable (0|1), error, backoff_base_ms,
--       backoff_max_ms, jitter (0..1), machine_id, version, failure_type,
--       worker_status_msg, machine_channel, machine_msg
-- Returns {1|0, outcome or status_seen}.
local job_id, wid, iso, now_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = 'job:' .. job_id
local job = hash_of(jk)
local ours = job['worker_id'] == wid and is_active_status(job['status'])
redis.call('HDEL', 'jobs:active:' .. wid, job_id)
local outcome = job['status'] or ''
if ours then
  local attempt = (tonumber(job['retry_count']) or 0) + 1
  local base, cap, jitter = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local backoff = base * 2 ^ (attempt - 1)
  if backoff > cap then backoff = cap end
  backoff = math.floor(backoff * (0.5 + jitter * 0.5))
  outcome = fail_attempt(job_id, job, wid, iso, now_ms, ARGV[5] == '1', ARGV[6], backoff,
                         ARGV[10], ARGV[11], ARGV[12])
  redis.call('HINCRBY', 'worker:' .. wid, 'total_jobs_failed', 1)
end
worker_idle(wid, iso, ARGV[13], ARGV[14], ARGV[15])
return {ours and 1 or 0, outcome}

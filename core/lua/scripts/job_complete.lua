-- job_complete: the fenced success path (emp-job-queue.md 5.1 step 6) in one atomic call.
-- ARGV: job_id, worker_id, iso_now, attestation_suffix_unused, attestation_json,
--       completed_value, complete_job_msg, worker_status_msg, machine_channel, machine_msg
-- Writes the outcome only if this worker still owns the job (worker_id and an active status);
-- otherwise only clears this worker's own records. Returns {1|0, status_seen}.
local job_id, wid, iso = ARGV[1], ARGV[2], ARGV[3]
local jk = 'job:' .. job_id
local job = hash_of(jk)
local ours = job['worker_id'] == wid and is_active_status(job['status'])
redis.call('HDEL', 'jobs:active:' .. wid, job_id)
if ours then
  local attempt = (tonumber(job['retry_count']) or 0) + 1
  redis.call('SET', attest_key('completion', job_id, job['workflow_id'], ':attempt:' .. attempt), ARGV[5])
  redis.call('HSET', jk, 'status', 'completed', 'completed_at', iso)
  redis.call('HSET', 'jobs:completed', job_id, ARGV[6])
  redis.call('EXPIRE', 'jobs:completed', 86400)
  redis.call('PUBLISH', 'complete_job', ARGV[7])
  redis.call('HINCRBY', 'worker:' .. wid, 'total_jobs_completed', 1)
end
worker_idle(wid, iso, ARGV[8], ARGV[9], ARGV[10])
return {ours and 1 or 0, job['status'] or ''}

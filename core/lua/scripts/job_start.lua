-- job_start: claimed -> in_progress, only if this worker still owns the job.
-- Also run again after a reconnect for the job still running: the re-registration wrote
-- the worker hash as idle, so the worker is marked busy with its job again (and a job whose
-- start was never written, Redis having gone away right after the claim, is started now).
-- ARGV: job_id, worker_id, iso_now.  Returns 1 (started, or still running) or 0 (no longer ours).
local job_id, wid, iso = ARGV[1], ARGV[2], ARGV[3]
local jk = 'job:' .. job_id
local owner = redis.call('HGET', jk, 'worker_id')
local status = redis.call('HGET', jk, 'status')
if owner ~= wid or (status ~= 'assigned' and status ~= 'in_progress') then return 0 end
if status == 'assigned' then
  redis.call('HSET', jk, 'status', 'in_progress', 'started_at', iso)
end
redis.call('HSET', 'worker:' .. wid, 'status', 'busy', 'current_job_id', job_id)
return 1

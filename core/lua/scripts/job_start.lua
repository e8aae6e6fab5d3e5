-- job_start: claimed -> in_progress, only if this worker still owns the job.
-- ARGV: job_id, worker_id, iso_now.  Returns 1 (started) or 0 (no longer ours).
local job_id, wid, iso = ARGV[1], ARGV[2], ARGV[3]
local jk = 'job:' .. job_id
local owner = redis.call('HGET', jk, 'worker_id')
local status = redis.call('HGET', jk, 'status')
if owner ~= wid or status ~= 'assigned' then return 0 end
redis.call('HSET', jk, 'status', 'in_progress', 'started_at', iso)
return 1

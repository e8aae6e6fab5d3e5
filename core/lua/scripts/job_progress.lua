-- job_progress: write a progress update only while this worker owns the job (fenced, so a
-- worker that lost its job, e.g. after a pause past its heartbeat, cannot overwrite the new
-- owner's progress). ARGV: job_id, worker_id, percent, message, iso_now, message_json.
-- Returns 1 (written) or 0 (no longer ours: the caller cancels the job).
local job_id, wid = ARGV[1], ARGV[2]
local jk = 'job:' .. job_id
local owner = redis.call('HGET', jk, 'worker_id')
local status = redis.call('HGET', jk, 'status')
if owner ~= wid or not is_active_status(status) then return 0 end
redis.call('HSET', jk .. ':progress', 'progress', ARGV[3], 'status', 'in_progress',
           'message', ARGV[4], 'updated_at', ARGV[5])
redis.call('PUBLISH', 'update_job_progress', ARGV[6])
return 1

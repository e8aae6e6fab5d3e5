-- promote_retries: move retried jobs whose backoff has passed from jobs:retry_delayed back to
-- jobs:pending with the API's score, and wake idle workers of their service.
-- ARGV: now_ms, limit.  Returns the number promoted.
local now_ms, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', 'jobs:retry_delayed', '-inf', ARGV[1], 'LIMIT', 0, limit)
local n = 0
for _, id in ipairs(due) do
  redis.call('ZREM', 'jobs:retry_delayed', id)
  local job = hash_of('job:' .. id)
  if job['status'] == 'pending' then
    redis.call('ZADD', 'jobs:pending', api_score(job, now_ms), id)
    redis.call('PUBLISH', 'emp-worker:wake', job['service_required'] or '')
    n = n + 1
  end
end
return n

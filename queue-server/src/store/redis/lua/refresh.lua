-- Everything a server's local mirror of one queue needs that it has not
-- seen yet, as one consistent snapshot.
-- KEYS: meta, line, left, active, adm
-- ARGV: users_known, batches_seen, leaves_seen, max_items
-- Returns {} when the queue does not exist, else
-- {meta_fields, line_length, new_users, first_batch_index, new_batches,
--  new_leaves (member, score, ...), active_count}.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'rate', 'max_active', 'ttl', 'status',
  'frontier', 'admitted_total', 'left_ahead', 'adm_trimmed', 'leave_count', 'ip_joins', 'pow',
  'pow_adaptive', 'opens_at', 'prequeue', 'sched', 'block', 'drawn')
if not m[1] then
  return {}
end
local cap = tonumber(ARGV[4])
local len = redis.call('LLEN', KEYS[2])
local known = tonumber(ARGV[1])
local users = {}
if known < len then
  local last = len - 1
  if last > known + cap - 1 then
    last = known + cap - 1
  end
  users = redis.call('LRANGE', KEYS[2], known, last)
end
local trimmed = tonumber(m[9])
local start = tonumber(ARGV[2]) - trimmed
if start < 0 then
  start = 0
end
local batches = redis.call('LRANGE', KEYS[5], start, -1)
local leaves = {}
if tonumber(m[10]) > tonumber(ARGV[3]) then
  leaves = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (tonumber(ARGV[3]) * 2 + 1), '+inf',
    'WITHSCORES', 'LIMIT', 0, cap)
end
return {m, len, users, start + trimmed, batches, leaves, redis.call('ZCARD', KEYS[4])}

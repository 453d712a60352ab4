-- Creates a queue (returns 1) or updates its settings (returns 0).
-- KEYS: meta, line, users, users_overflow, left, active, adm, lease, order, places
-- ARGV: epoch, rate, max_active, ttl_sec, initial_status, joins_per_ip_per_minute,
--       pow_difficulty, pow_adaptive (0/1), opens_at_ms (0: no schedule),
--       prequeue (0/1)
-- A schedule is only written when the queue is created: it is fixed then.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'rate', ARGV[2], 'max_active', ARGV[3], 'ttl', ARGV[4],
    'ip_joins', ARGV[6], 'pow', ARGV[7], 'pow_adaptive', ARGV[8])
  return 0
end
-- Leftovers of an earlier queue of the same name must not leak into this
-- one (delete_queue removes them; this covers a crash half-way through).
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
redis.call('HSET', KEYS[1],
  'epoch', ARGV[1], 'rate', ARGV[2], 'max_active', ARGV[3], 'ttl', ARGV[4],
  'ip_joins', ARGV[6], 'pow', ARGV[7], 'pow_adaptive', ARGV[8], 'status', ARGV[5], 'frontier', 0, 'admitted_total', 0,
  'left_ahead', 0, 'adm_count', 0, 'adm_trimmed', 0, 'leave_count', 0, 'fence', 0,
  'opens_at', ARGV[9], 'prequeue', ARGV[10], 'drawn', 0)
if ARGV[9] ~= '0' then
  redis.call('HSET', KEYS[1], 'sched', 'pending')
end
return 1

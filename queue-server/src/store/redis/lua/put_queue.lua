-- Creates a queue (returns 1) or updates its settings (returns 0).
-- KEYS: meta, line, users, users_overflow, left, active, adm, lease
-- ARGV: epoch, rate, max_active, ttl_sec, initial_status, joins_per_ip_per_minute,
--       pow_difficulty, pow_adaptive (0/1)
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'rate', ARGV[2], 'max_active', ARGV[3], 'ttl', ARGV[4],
    'ip_joins', ARGV[6], 'pow', ARGV[7], 'pow_adaptive', ARGV[8])
  return 0
end
-- Leftovers of an earlier queue of the same name must not leak into this
-- one (delete_queue removes them; this covers a crash half-way through).
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('HSET', KEYS[1],
  'epoch', ARGV[1], 'rate', ARGV[2], 'max_active', ARGV[3], 'ttl', ARGV[4],
  'ip_joins', ARGV[6], 'pow', ARGV[7], 'pow_adaptive', ARGV[8], 'status', ARGV[5], 'frontier', 0, 'admitted_total', 0,
  'left_ahead', 0, 'adm_count', 0, 'adm_trimmed', 0, 'leave_count', 0, 'fence', 0)
return 1

-- Hands a lease over early at shutdown: if the caller still holds it, it
-- now expires after ARGV[2] ms instead of a full lease term.
-- KEYS: lease
-- ARGV: owner, grace_ms
-- Returns 1 when shortened, 0 when the caller did not hold it.
--
-- Not deleted: the next holder starts a fresh pacer, and the rate's hard
-- one-second window holds only if a second passes between this holder's
-- last admission and the next holder's first (see `lease.rs`).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1

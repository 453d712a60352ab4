-- Commits a pre-queue's draw, once: the order (seqs in place order, four
-- bytes big-endian each) is written whole and the queue opens, in one step,
-- so that a holder killed half-way leaves the queue sealed and the next
-- holder draws again (the seed is derived, so it draws the same order).
-- KEYS: meta, order, lease, places
-- ARGV: owner, fence, epoch, block, order bytes, places bytes (the place of
--       each seq of the block, 4 bytes big-endian each)
-- Returns -1 when the caller no longer holds the lease, 0 when there is
-- nothing to commit (another incarnation, another block, or drawn
-- already), 1 when committed.
if redis.call('GET', KEYS[3]) ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return -1
end
local m = redis.call('HMGET', KEYS[1], 'epoch', 'sched', 'block', 'status')
local size = 4 * tonumber(ARGV[4])
if m[1] ~= ARGV[3] or m[2] ~= 'sealed' or m[3] ~= ARGV[4] or #ARGV[5] ~= size or #ARGV[6] ~= size then
  return 0
end
redis.call('SET', KEYS[2], ARGV[5])
redis.call('SET', KEYS[4], ARGV[6])
redis.call('HSET', KEYS[1], 'drawn', ARGV[4])
redis.call('HDEL', KEYS[1], 'sched')
if m[4] == 'prequeue' then
  redis.call('HSET', KEYS[1], 'status', 'open')
end
return 1

-- Group commit: joins a whole batch of users in one round trip.
-- KEYS: meta, line, users, users_overflow
-- ARGV: n, fingerprint_1 .. fingerprint_n, userId_1 .. userId_n
--       (a fingerprint is `keys::user_fingerprint`: 8 bytes of the userId's
--       SHA-256). No fingerprint may appear twice in one call: the caller
--       (`joins::flush_joins`) sends repeats in a follow-up call.
-- Returns {} when the queue does not exist, else {epoch, base, i, code, ...}:
-- the users not listed got new entries, in ARGV order, with seqs base + 1,
-- base + 2, ...; a listed user (its index i) has code -seq (the entry it
-- already had) or 0 (refused: the queue is closed).
--
-- Why it is shaped like this: in a rush, Redis's CPU per join is what
-- limits a server on Redis, and every redis.call and every Lua table write
-- costs. So a batch of new users, the common case, costs a fixed handful of
-- calls (HMGET of the fingerprints, HSET of the new ones, RPUSH of the
-- userIds, straight from ARGV) and one table write per user, and the reply
-- does not grow with the batch. Only a fingerprint that is already there
-- costs more: the hit is confirmed against the line itself (LINDEX), so a
-- collision can never merge two users; a user whose fingerprint belongs to
-- someone else is indexed by full userId in the overflow hash (about one
-- user in 2^38; `overflow` in meta says whether the hash exists at all).
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'overflow', 'buckets', 'sched',
  'prequeue', 'opens_at')
if not meta[1] then
  return {}
end
if meta[4] then
  -- Created by a queue-server of the first layout, whose user index this
  -- script cannot see: joining would give returning fans a second entry.
  return redis.error_reply('LAYOUT queue created with the old user-index layout (buckets); recreate it')
end
local closed = meta[2] == 'closed' or meta[2] == 'sold_out'
local overflow = meta[3] == '1'
local n = tonumber(ARGV[1])
local found = redis.call('HMGET', KEYS[3], unpack(ARGV, 2, n + 1))
local base = redis.call('LLEN', KEYS[2])
if meta[5] == 'pending' and meta[6] == '1' then
  -- A pre-queue closes at its opening, on Redis's clock, whether or not the
  -- admission lease holder has looked yet: no join after it enters the
  -- block to draw (see admit.lua).
  local time = redis.call('TIME')
  if tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) >= tonumber(meta[7]) then
    redis.call('HSET', KEYS[1], 'sched', 'sealed', 'block', base)
  end
end

local out = {meta[1], base}
local index, m, pushed = {}, 0, 0
local listed = nil -- indexes of the users in `out`, once there is one
for i = 1, n do
  local seq
  local hit = found[i]
  if hit or overflow then
    local user = ARGV[n + 1 + i]
    if hit and redis.call('LINDEX', KEYS[2], tonumber(hit) - 1) == user then
      seq = tonumber(hit)
    elseif overflow then
      seq = tonumber(redis.call('HGET', KEYS[4], user))
    end
  end
  if seq or closed then
    out[#out + 1] = i
    out[#out + 1] = seq and -seq or 0
    listed = listed or {}
    listed[i] = true
  else
    pushed = pushed + 1
    if hit then
      -- Another user owns this fingerprint.
      redis.call('HSET', KEYS[4], ARGV[n + 1 + i], base + pushed)
      if not overflow then
        redis.call('HSET', KEYS[1], 'overflow', 1)
        overflow = true
      end
    else
      index[m + 1] = ARGV[1 + i]
      index[m + 2] = base + pushed
      m = m + 2
    end
  end
end
if pushed > 0 and not listed then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, n + 2, 2 * n + 1))
elseif pushed > 0 then
  local users = {}
  for i = 1, n do
    if not listed[i] then
      users[#users + 1] = ARGV[n + 1 + i]
    end
  end
  redis.call('RPUSH', KEYS[2], unpack(users))
end
if m > 0 then
  redis.call('HSET', KEYS[3], unpack(index, 1, m))
end
return out

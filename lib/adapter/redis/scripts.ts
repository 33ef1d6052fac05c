/**
 * The Redis adapter's Lua scripts. Each declares every key it touches (all in one slot: a room's,
 * or a user's) and builds no key name. They run with EVALSHA (the script is sent once, when a
 * node answers NOSCRIPT: after a restart or a failover), without defining anything on the host's
 * client.
 */
import { prune, repeatOf, Script } from './script.js'
import { historyScripts } from './history-scripts.js'
import { userScripts } from './user-scripts.js'

/**
 * Memberships of one room (idempotent), with the room's state, its epoch made if it has none.
 * KEYS: 1 members, 2 meta, 3 the joining process's members of the room (what a reaper removes if
 * it dies), 4 users (userId -> connections in the room), 5 names (userId -> display name).
 * ARGV: 1 a new epoch, 2 ttl ms, then per joiner: member ("<clientId>\n<userId>"), joinedAt,
 * userId, name ('' for none).
 * Returns { members, seq, epoch, users, then per joiner: added (1 or 0), the user's connections }.
 */
const JOIN = `
local out = {0, 0, 0, 0}
for i = 3, #ARGV, 4 do
  local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], ARGV[i])
  redis.call('SADD', KEYS[3], ARGV[i])
  local own
  if added == 1 then
    own = redis.call('HINCRBY', KEYS[4], ARGV[i + 2], 1)
    if own == 1 and ARGV[i + 3] ~= '' then redis.call('HSET', KEYS[5], ARGV[i + 2], ARGV[i + 3]) end
  else
    own = tonumber(redis.call('HGET', KEYS[4], ARGV[i + 2]) or '0')
  end
  table.insert(out, added)
  table.insert(out, own)
end
local meta = redis.call('HMGET', KEYS[2], 's', 'e')
local seq, epoch = meta[1], meta[2]
if not epoch then
  seq = 0
  epoch = ARGV[1]
  redis.call('HSET', KEYS[2], 's', 0, 'e', epoch)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
out[1] = redis.call('ZCARD', KEYS[1])
out[2] = tonumber(seq)
out[3] = epoch
out[4] = redis.call('HLEN', KEYS[4])
return out`

/**
 * Memberships of one room end. KEYS: 1 members, 2 the leaving process's members of the room,
 * 3 users, 4 names. ARGV: per leaver, member ("<clientId>\n<userId>") and userId.
 * Returns { members, users, then per leaver the user's remaining connections }.
 */
const LEAVE = `
local out = {0, 0}
for i = 1, #ARGV, 2 do
  redis.call('SREM', KEYS[2], ARGV[i])
  local own
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    own = redis.call('HINCRBY', KEYS[3], ARGV[i + 1], -1)
    if own <= 0 then
      own = 0
      redis.call('HDEL', KEYS[3], ARGV[i + 1])
      redis.call('HDEL', KEYS[4], ARGV[i + 1])
    end
  else
    own = tonumber(redis.call('HGET', KEYS[3], ARGV[i + 1]) or '0')
  end
  table.insert(out, own)
end
out[1] = redis.call('ZCARD', KEYS[1])
out[2] = redis.call('HLEN', KEYS[3])
return out`

/**
 * Messages to one room: each gets the room's next seq (a new epoch from 1 if its history is
 * gone), is kept in the room's stream (at most ARGV[2] entries) and published in seq order, all
 * in one publish; a resend within the ttl (same dedupe key) publishes nothing and gets what the
 * first send stored. The same call sent twice is done once (see repeatOf).
 * KEYS: 1 meta, 2 history, 3 the room's channel, 4 versions, then one dedupe key per message that
 *       has one.
 * ARGV: 1 a new epoch, 2 max entries, 3 ttl ms, 4 now, 5 the publish command (SPUBLISH or
 *       PUBLISH), 6 the calling process's id, 7 the call's id ('' when every message has a ref),
 *       then per message: head, mid, tail, id, its dedupe key's index in KEYS (0: none), digest.
 * Returns a line per message: "1 <seq> <epoch>", or "0 <id> <seq> <epoch> <digest>" for a resend.
 */
const MESSAGES = `
local meta = redis.call('HMGET', KEYS[1], 'e', 's', 'o:' .. ARGV[6])${repeatOf('meta[3]', 7)}
local epoch, seq = meta[1], tonumber(meta[2] or '0')
if not epoch then
  epoch = ARGV[1]
  seq = 0
  redis.call('DEL', KEYS[2], KEYS[4])
end
local out = {}
local published = {}
for i = 8, #ARGV, 6 do
  local dk = tonumber(ARGV[i + 4])
  local sent = false
  if dk > 0 then sent = redis.call('GET', KEYS[dk]) end
  if sent then
    table.insert(out, '0 ' .. sent)
  else
    seq = seq + 1
    local frame = ARGV[i] .. seq .. ARGV[i + 1] .. epoch .. ARGV[i + 2]
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', frame, 'i', ARGV[i + 3])
    if dk > 0 then redis.call('SET', KEYS[dk], ARGV[i + 3] .. ' ' .. seq .. ' ' .. epoch .. ' ' .. ARGV[i + 5], 'PX', ARGV[3]) end
    table.insert(published, '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. frame)
    table.insert(out, '1 ' .. seq .. ' ' .. epoch)
  end
end
local result = table.concat(out, '\\n')
if #published > 0 then
  -- The room's new seq, and (for a call that needs it) its answer, in one write.
  if ARGV[7] == '' then
    redis.call('HSET', KEYS[1], 'e', epoch, 's', seq)
  elseif redis.call('HSET', KEYS[1], 'e', epoch, 's', seq, 'o:' .. ARGV[6], ARGV[7] .. '\\n' .. result) == 1 then${prune(1, 6)}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call(ARGV[5], KEYS[3], table.concat(published, '\\n'))
end
return result`

/**
 * Reaps part of a dead process's members of one room: at most ARGV[1] of them.
 * KEYS: 1 members, 2 that process's members of the room, 3 users, 4 names.
 * Returns { left in its set, room's count, room's users, then per removed member: member, the
 * user's remaining connections, its name ('' for none) }.
 */
const REAP_ROOM = `
local gone = redis.call('SPOP', KEYS[2], ARGV[1])
local out = {0, 0, 0}
for _, m in ipairs(gone) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local user = string.sub(m, string.find(m, '\\n', 1, true) + 1)
    local name = redis.call('HGET', KEYS[4], user) or ''
    local own = redis.call('HINCRBY', KEYS[3], user, -1)
    if own <= 0 then
      own = 0
      redis.call('HDEL', KEYS[3], user)
      redis.call('HDEL', KEYS[4], user)
    end
    table.insert(out, m)
    table.insert(out, own)
    table.insert(out, name)
  end
end
out[1] = redis.call('SCARD', KEYS[2])
out[2] = redis.call('ZCARD', KEYS[1])
out[3] = redis.call('HLEN', KEYS[3])
return out`

/**
 * A new epoch for a room whose history may have been lost (its shard failed over), unless
 * another process did it already; seq goes on from at least ARGV[3], so that no seq is reused.
 * KEYS: 1 meta. ARGV: 1 the epoch it had, 2 a new epoch, 3 the highest seq seen. Returns the epoch now.
 */
const ROTATE = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if epoch and epoch ~= ARGV[1] then return epoch end
local seq = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
if seq < tonumber(ARGV[3]) then seq = tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], 'e', ARGV[2], 's', seq)
return ARGV[2]`

export const scripts = {
  join: new Script(5, JOIN),
  leave: new Script(4, LEAVE),
  messages: new Script(-1, MESSAGES),
  ...historyScripts,
  reapRoom: new Script(4, REAP_ROOM),
  rotate: new Script(1, ROTATE),
  ...userScripts
} as const

/**
 * The Redis adapter's Lua scripts. Each declares every key it touches (all in one slot: a room's,
 * or a user's) and builds no key name. They run with EVALSHA (the script is sent once, when a
 * node answers NOSCRIPT: after a restart or a failover), without defining anything on the host's
 * client.
 */
import { Script } from './script.js'
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
 * first send stored.
 * KEYS: 1 meta, 2 history, 3 the room's channel, 4 versions, then one dedupe key per message that has one.
 * ARGV: 1 a new epoch, 2 max entries, 3 ttl ms, 4 now, 5 the publish command (SPUBLISH or
 *       PUBLISH), then per message: head, mid, tail, id, its dedupe key's index in KEYS (0: none),
 *       digest.
 * Returns per message { 1, seq, epoch } or { 0, "<id> <seq> <epoch> <digest>" } for a resend.
 */
const MESSAGES = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('DEL', KEYS[2], KEYS[4])
end
local out = {}
local published = {}
for i = 6, #ARGV, 6 do
  local dk = tonumber(ARGV[i + 4])
  local sent = false
  if dk > 0 then sent = redis.call('GET', KEYS[dk]) end
  if sent then
    table.insert(out, {0, sent})
  else
    local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
    local frame = ARGV[i] .. seq .. ARGV[i + 1] .. epoch .. ARGV[i + 2]
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', frame, 'i', ARGV[i + 3])
    if dk > 0 then redis.call('SET', KEYS[dk], ARGV[i + 3] .. ' ' .. seq .. ' ' .. epoch .. ' ' .. ARGV[i + 5], 'PX', ARGV[3]) end
    table.insert(published, '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. frame)
    table.insert(out, {1, seq, epoch})
  end
end
if #published > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call(ARGV[5], KEYS[3], table.concat(published, '\\n'))
end
return out`

/**
 * The room's epoch and newest seq with a range of its history, in one read; an edited or deleted
 * message comes at its latest version, and an edit of a message deleted since is marked (field
 * `x`) for the reader to empty.
 * KEYS: 1 meta, 2 history, 3 versions. ARGV: 1 'after' or 'before', 2 the bound (a stream id), 3 count.
 * Returns { epoch or false, seq, entries } (entries oldest first for 'after', newest first for 'before').
 */
const READ = `
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
local entries
if ARGV[1] == 'after' then
  entries = redis.call('XRANGE', KEYS[2], ARGV[2], '+', 'COUNT', ARGV[3])
else
  entries = redis.call('XREVRANGE', KEYS[2], ARGV[2], '-', 'COUNT', ARGV[3])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  for _, e in ipairs(entries) do
    local v = redis.call('HGET', KEYS[3], string.match(e[1], '^%d+'))
    if v then
      local f = e[2]
      if v == 'x' then
        table.insert(f, 'x')
        table.insert(f, '1')
      else
        for j = 1, #f, 2 do if f[j] == 'f' then f[j + 1] = string.sub(v, 2) end end
      end
    end
  end
end
return {meta[1], tonumber(meta[2] or '0'), entries}`

/**
 * A message of the history by id, at its latest version.
 * KEYS: 1 meta, 2 history, 3 versions. ARGV: 1 the id.
 * Returns { seq, epoch, frame, published at (ms) } or false.
 */
const FIND = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then return false end
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local f = e[2]
  local id, frame, at
  for j = 1, #f, 2 do
    if f[j] == 'i' then id = f[j + 1] elseif f[j] == 'f' then frame = f[j + 1] elseif f[j] == 't' then at = f[j + 1] end
  end
  if id == ARGV[1] then
    local seq = string.match(e[1], '^%d+')
    local v = redis.call('HGET', KEYS[3], seq)
    if v then frame = string.sub(v, 2) end
    return {seq, epoch, frame, at}
  end
end
return false`

/**
 * A function of the two scripts below: the message at seq `m` (a string) is being deleted, so every
 * edit of it that the stream holds (field `r` names the message) is marked `x` in the versions:
 * read from then on without its content. KEYS: 2 history, 3 versions.
 */
const SCRUB_EDITS = `
local function scrub (m)
  for _, e in ipairs(redis.call('XRANGE', KEYS[2], m .. '-0', '+')) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'r' and f[j + 1] == m then redis.call('HSET', KEYS[3], string.match(e[1], '^%d+'), 'x') end
    end
  end
end`

/** Forgets the versions of messages the history no longer holds (a snippet of the two scripts below). */
const PRUNE_VERSIONS = `
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
local oldest = first and tonumber(string.match(first[1], '^%d+')) or math.huge
for _, k in ipairs(redis.call('HKEYS', KEYS[3])) do
  if tonumber(k) < oldest then redis.call('HDEL', KEYS[3], k) end
end`

/**
 * An edit or deletion, without a store: the change gets the room's next seq and is kept (naming
 * its message's seq) and published; the message (which must be held, and not deleted) gets its
 * new version, and a deletion empties the edits of it held.
 * KEYS: 1 meta, 2 history, 3 versions, 4 channel. ARGV: 1 the room's epoch as read, 2 the
 * message's seq, 3 its new version ('e' or 'd' for deleted, then the frame), 4-6 the change's head,
 * mid and tail, 7 now, 8 max entries, 9 ttl ms, 10 the publish command.
 * Returns { seq, epoch } or false (nothing done).
 */
const REVISE = `${SCRUB_EDITS}
local epoch = redis.call('HGET', KEYS[1], 'e')
if epoch ~= ARGV[1] then return false end
local id = ARGV[2] .. '-0'
if #redis.call('XRANGE', KEYS[2], id, id) == 0 then return false end
local v = redis.call('HGET', KEYS[3], ARGV[2])
if v and string.sub(v, 1, 1) == 'd' then return false end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local frame = ARGV[4] .. seq .. ARGV[5] .. epoch .. ARGV[6]
if string.sub(ARGV[3], 1, 1) == 'd' then scrub(ARGV[2]) end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[8], seq .. '-0', 't', ARGV[7], 'f', frame, 'k', 'c', 'r', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
${PRUNE_VERSIONS}
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[9]) end
redis.call(ARGV[10], KEYS[4], '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. frame)
return {seq, epoch}`

/**
 * Events a store numbered: kept in the stream in seq order (one that comes after a newer one,
 * from another process, is left out of it: a resume over it reads the store), versions of edited
 * and deleted messages recorded (a tombstone is never replaced: an edit published after the
 * deletion, by another process, does not bring the text back), a deletion emptying the edits of
 * its message held, all published in one publish. Another epoch replaces the history.
 * KEYS: 1 meta, 2 history, 3 versions, 4 channel. ARGV: 1 epoch, 2 max entries, 3 ttl ms, 4 now,
 * 5 the publish command, then per event: seq, frame, the message's id ('' for a change), the
 * revised message's seq ('' for none) and its new version ('e' or 'd', then the frame).
 */
const STORED = `${SCRUB_EDITS}
local meta = redis.call('HMGET', KEYS[1], 'e', 's')
local last = tonumber(meta[2] or '0')
if meta[1] ~= ARGV[1] then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'e', ARGV[1], 's', 0)
  last = 0
end
local published = {}
local revised = false
for i = 6, #ARGV, 5 do
  local seq = tonumber(ARGV[i])
  local of = ARGV[i + 3]
  if of ~= '' and string.sub(ARGV[i + 4], 1, 1) == 'd' then scrub(of) end
  if seq > last then
    if ARGV[i + 2] ~= '' then
      redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', ARGV[i + 1], 'i', ARGV[i + 2])
    else
      redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 't', ARGV[4], 'f', ARGV[i + 1], 'k', 'c', 'r', of)
    end
    last = seq
  end
  if of ~= '' then
    local now = redis.call('HGET', KEYS[3], of)
    if not (now and string.sub(now, 1, 1) == 'd') then redis.call('HSET', KEYS[3], of, ARGV[i + 4]) end
    revised = true
  end
  table.insert(published, '\\n' .. seq .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 's', last)
if revised then
${PRUNE_VERSIONS}
end
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[3]) end
redis.call(ARGV[5], KEYS[4], table.concat(published, '\\n'))`

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
  read: new Script(3, READ),
  find: new Script(3, FIND),
  revise: new Script(4, REVISE),
  stored: new Script(4, STORED),
  reapRoom: new Script(4, REAP_ROOM),
  rotate: new Script(1, ROTATE),
  ...userScripts
} as const

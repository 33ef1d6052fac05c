/**
 * The Redis adapter's scripts of a room's history (all in the room's slot): reads of the stream at
 * messages' latest versions, and edits and deletions, numbered here or by a store. Same rules as
 * scripts.ts.
 */
import { remember, repeatOf, Script } from './script.js'

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
 * new version, and a deletion empties the edits of it held. The same call sent twice is done once.
 * KEYS: 1 meta, 2 history, 3 versions, 4 channel. ARGV: 1 the room's epoch as read, 2 the
 * message's seq, 3 its new version ('e' or 'd' for deleted, then the frame), 4-6 the change's head,
 * mid and tail, 7 now, 8 max entries, 9 ttl ms, 10 the publish command, 11 the calling process's
 * id, 12 the call's id.
 * Returns "<seq> <epoch>", or '' (nothing done).
 */
const REVISE = `${SCRUB_EDITS}
local meta = redis.call('HMGET', KEYS[1], 'e', 'o:' .. ARGV[11])${repeatOf('meta[2]', 12)}
local epoch = meta[1]
if epoch ~= ARGV[1] then return '' end
local id = ARGV[2] .. '-0'
if #redis.call('XRANGE', KEYS[2], id, id) == 0 then return '' end
local v = redis.call('HGET', KEYS[3], ARGV[2])
if v and string.sub(v, 1, 1) == 'd' then return '' end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local frame = ARGV[4] .. seq .. ARGV[5] .. epoch .. ARGV[6]
if string.sub(ARGV[3], 1, 1) == 'd' then scrub(ARGV[2]) end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[8], seq .. '-0', 't', ARGV[7], 'f', frame, 'k', 'c', 'r', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
${PRUNE_VERSIONS}
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[9]) end
redis.call(ARGV[10], KEYS[4], '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. frame)
local result = seq .. ' ' .. epoch${remember(1, 11, 12, 'result')}
return result`

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

export const historyScripts = {
  read: new Script(3, READ),
  find: new Script(3, FIND),
  revise: new Script(4, REVISE),
  stored: new Script(4, STORED)
} as const

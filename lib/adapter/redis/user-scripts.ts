/**
 * The Redis adapter's scripts about users (all in one user's slot): admission with the user's bans
 * and mutes, a connection gone (lastSeen, presence), bans and mutes kept, a dead process's
 * connections of one user reaped. Same rules as scripts.ts.
 */
import { Script } from './script.js'

/**
 * A user's connection, if within the cluster-wide limit, with the user's bans and mutes. It counts
 * as open (online) from here: the upgrade follows at once, and one that fails gives its place back
 * (DISCONNECT) through the process that took it. The first open one anywhere tells the user's
 * presence channel. A user banned from the whole chat takes no place (and is not online for a
 * moment): the restrictions come back, and the caller refuses the upgrade.
 * KEYS: 1 the user's connections, 2 the user's restrictions, 3 the user's presence channel.
 * ARGV: 1 clientId, 2 limit, 3 the publish command, 4 now ms.
 * Returns { 1 or 0, then the restrictions' fields and values }.
 */
const ADMIT = `
local ban = redis.call('HGET', KEYS[2], 'ban\\n')
if ban then
  local ok, r = pcall(cjson.decode, ban)
  if ok and (r['until'] == nil or r['until'] > tonumber(ARGV[4])) then
    local out = redis.call('HGETALL', KEYS[2])
    table.insert(out, 1, 1)
    return out
  end
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local open = redis.call('ZCARD', KEYS[1])
  if open >= tonumber(ARGV[2]) then return {0} end
  redis.call('ZADD', KEYS[1], 'inf', ARGV[1])
  if open == 0 then redis.call(ARGV[3], KEYS[3], '1') end
end
local out = redis.call('HGETALL', KEYS[2])
table.insert(out, 1, 1)
return out`

/**
 * A user's connection (or reservation) is gone. The last open one anywhere records when it was
 * seen and tells the user's presence channel.
 * KEYS: 1 the user's connections, 2 the user's last-seen time, 3 the user's presence channel.
 * ARGV: 1 clientId, 2 now ms, 3 last-seen ttl ms, 4 the publish command. Returns the open connections left.
 */
const DISCONNECT = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
local left = redis.call('ZCOUNT', KEYS[1], '+inf', '+inf')
if score == 'inf' and left == 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call(ARGV[4], KEYS[3], '0 ' .. ARGV[2])
end
return left`

/**
 * Keeps a restriction in one hash (a user's, or a room's), the hash living as long as its longest
 * entry. KEYS: 1 the hash. ARGV: 1 field, 2 value, 3 ms it lasts (0: until lifted).
 */
const RESTRICT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ms = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ms == 0 then redis.call('PERSIST', KEYS[1])
elseif ttl ~= -1 and ttl < ms then redis.call('PEXPIRE', KEYS[1], ms) end
return 1`

/**
 * A dead process's connections of one user go; if they were the user's last open ones, it is
 * seen now and its presence channel is told.
 * KEYS: 1 the user's connections, 2 the user's last-seen time, 3 the user's presence channel.
 * ARGV: 1 that process's clientId prefix ("<node>."), 2 now ms, 3 last-seen ttl ms, 4 the publish command.
 * Returns the user's remaining connections.
 */
const REAP_USER = `
local before = redis.call('ZCOUNT', KEYS[1], '+inf', '+inf')
for _, c in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(c, 1, string.len(ARGV[1])) == ARGV[1] then redis.call('ZREM', KEYS[1], c) end
end
if before > 0 and redis.call('ZCOUNT', KEYS[1], '+inf', '+inf') == 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call(ARGV[4], KEYS[3], '0 ' .. ARGV[2])
end
return redis.call('ZCARD', KEYS[1])`

export const userScripts = {
  admit: new Script(3, ADMIT),
  restrict: new Script(1, RESTRICT),
  reapUser: new Script(3, REAP_USER),
  disconnect: new Script(3, DISCONNECT)
} as const

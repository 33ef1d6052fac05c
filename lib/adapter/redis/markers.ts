/**
 * Read markers on Redis: each user's in a hash of its own (room -> seq), kept `presenceTtl` after
 * its last change; unread counts read the room's history stream in the room's slot.
 */
import type { Marker, Unread } from '../contract.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { Batcher } from './batcher.js'
import { Script } from './script.js'

/**
 * Moves a marker up (never down); with init, sets it only when there is none.
 * KEYS: 1 the user's markers. ARGV: 1 room, 2 seq, 3 init ('1'), 4 ttl ms. Returns { seq, moved }.
 */
const MARK = new Script(1, `
local now = redis.call('HGET', KEYS[1], ARGV[1])
local seq = tonumber(ARGV[2])
if now and (ARGV[3] == '1' or tonumber(now) >= seq) then return {tonumber(now), 0} end
redis.call('HSET', KEYS[1], ARGV[1], seq)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {seq, 1}`)

/**
 * The room's newest seq, and for each of several (marker, user) pairs the messages after the
 * marker that others sent and nobody deleted, counted up to a cap: one pass over the stream from
 * the lowest marker, whoever asked (a reconnection storm brings a room's users back together). A
 * frame's first ',"userId":' is its sender's (a quote inside a JSON string is always escaped).
 * KEYS: 1 meta, 2 history, 3 versions. ARGV: 1 cap, then per pair: after, the user's id
 * JSON-encoded. Returns { seq, unread1, complete1, unread2, complete2, ... } (complete: 1/0).
 */
const UNREAD = new Script(3, `
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local cap = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
-- Per pair: its marker, what its sender field looks like, its count, whether the window holds
-- every event after its marker, whether it still counts, and whether its first event was seen.
local after, needle, unread, complete, counting, seen = {}, {}, {}, {}, {}, {}
local open, from = 0, math.huge
for k = 1, n do
  after[k] = tonumber(ARGV[2 * k])
  needle[k] = ',"userId":' .. ARGV[2 * k + 1]
  unread[k] = 0
  if cap <= 0 or after[k] >= s then
    complete[k] = 1
    counting[k] = false
  else
    complete[k] = 0
    counting[k] = true
    open = open + 1
    if after[k] < from then from = after[k] end
  end
end
if open > 0 then
  local deleted = {}
  local v = redis.call('HGETALL', KEYS[3])
  for i = 1, #v, 2 do
    if string.sub(v[i + 1], 1, 1) == 'd' then deleted[v[i]] = true end
  end
  local cursor = from + 1
  while open > 0 do
    local page = redis.call('XRANGE', KEYS[2], cursor .. '-0', '+', 'COUNT', 200)
    if #page == 0 then break end
    for _, e in ipairs(page) do
      local id = string.match(e[1], '^%d+')
      local seq = tonumber(id)
      local f = e[2]
      local message = f[5] == 'i' and not deleted[id]
      local at = message and string.find(f[4], ',"userId":', 1, true)
      for k = 1, n do
        if counting[k] and seq > after[k] then
          if not seen[k] then
            seen[k] = true
            if seq == after[k] + 1 then complete[k] = 1 end
          end
          if message and not (at and string.sub(f[4], at, at + #needle[k] - 1) == needle[k]) then
            unread[k] = unread[k] + 1
            if unread[k] >= cap then
              complete[k] = 1
              counting[k] = false
              open = open - 1
            end
          end
        end
      end
      cursor = seq + 1
    end
    if #page < 200 then break end
  end
end
local out = {s}
for k = 1, n do
  out[2 * k] = unread[k]
  out[2 * k + 1] = complete[k]
end
return out`)

export class RedisMarkers {
  readonly #keys: Keys
  readonly #health: Health
  readonly #ttl: number
  /** Counts asked of a room within one turn go in one script call. */
  readonly #counts = new Batcher<{ after: number, userJson: string, cap: number }, Unread>(async (room, items) => await this.#unreadMany(room, items))

  constructor (keys: Keys, health: Health, ttl: number) {
    this.#keys = keys
    this.#health = health
    this.#ttl = ttl
  }

  async read (userId: string, rooms?: string[]): Promise<Map<string, number>> {
    const key = this.#keys.userReads(this.#keys.userTag(userId))
    const found = new Map<string, number>()
    if (rooms === undefined) {
      const all = await this.#health.run(async (c) => await c.hgetall(key))
      for (const [room, seq] of Object.entries(all)) found.set(room, Number(seq))
    } else if (rooms.length > 0) {
      const seqs = await this.#health.run(async (c) => await c.hmget(key, ...rooms))
      rooms.forEach((room, i) => { if (seqs[i] !== null) found.set(room, Number(seqs[i])) })
    }
    return found
  }

  async mark (userId: string, room: string, seq: number, init: boolean): Promise<Marker> {
    const key = this.#keys.userReads(this.#keys.userTag(userId))
    const [now, moved] = await this.#health.run(async (c) => await MARK.run(c, [key], [room, seq, init ? '1' : '0', this.#ttl])) as [number, number]
    return { seq: Number(now), moved: moved === 1 }
  }

  async unread (room: string, userId: string, after: number, cap: number): Promise<Unread> {
    return await this.#counts.add(`${cap}\n${room}`, { after, userJson: JSON.stringify(userId), cap })
  }

  async #unreadMany (key: string, items: Array<{ after: number, userJson: string, cap: number }>): Promise<Unread[]> {
    const room = key.slice(key.indexOf('\n') + 1)
    const keys = this.#keys
    const args: Array<string | number> = [items[0].cap]
    for (const it of items) args.push(it.after, it.userJson)
    const reply = await this.#health.run(async (c) => await UNREAD.run(c, [keys.meta(room), keys.history(room), keys.versions(room)], args)) as number[]
    const seq = Number(reply[0])
    return items.map((_, k) => ({ seq, unread: Number(reply[2 * k + 1]), complete: Number(reply[2 * k + 2]) === 1 }))
  }
}

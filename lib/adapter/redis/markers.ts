/**
 * Read markers on Redis: each user's in a hash of its own (room -> seq), kept `presenceTtl` after
 * its last change; unread counts read the room's history stream in the room's slot.
 */
import type { Marker, Unread } from '../contract.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
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
 * The room's newest seq and the messages after a marker that others sent and nobody deleted,
 * counted up to a cap, reading the stream forward in pages. A frame's first ',"userId":' is its
 * sender's (a quote inside a JSON string is always escaped).
 * KEYS: 1 meta, 2 history, 3 versions. ARGV: 1 after, 2 the user's id JSON-encoded, 3 cap.
 * Returns { seq, unread, complete (1/0) }.
 */
const UNREAD = new Script(3, `
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local after = tonumber(ARGV[1])
local cap = tonumber(ARGV[3])
if cap <= 0 or after >= s then return {s, 0, 1} end
local deleted = {}
local v = redis.call('HGETALL', KEYS[3])
for i = 1, #v, 2 do
  if string.sub(v[i + 1], 1, 1) == 'd' then deleted[v[i]] = true end
end
local needle = ',"userId":' .. ARGV[2]
local unread, complete, from = 0, 0, after + 1
local first = true
while unread < cap do
  local page = redis.call('XRANGE', KEYS[2], from .. '-0', '+', 'COUNT', 200)
  if #page == 0 then break end
  for _, e in ipairs(page) do
    local seq = string.match(e[1], '^%d+')
    if first then
      if tonumber(seq) == after + 1 then complete = 1 end
      first = false
    end
    local f = e[2]
    if f[5] == 'i' and not deleted[seq] then
      local at = string.find(f[4], ',"userId":', 1, true)
      if not (at and string.sub(f[4], at, at + #needle - 1) == needle) then
        unread = unread + 1
        if unread >= cap then break end
      end
    end
    from = tonumber(seq) + 1
  end
  if #page < 200 then break end
end
if unread >= cap then complete = 1 end
return {s, unread, complete}`)

export class RedisMarkers {
  readonly #keys: Keys
  readonly #health: Health
  readonly #ttl: number

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
    const keys = this.#keys
    const [seq, unread, complete] = await this.#health.run(async (c) => await UNREAD.run(c,
      [keys.meta(room), keys.history(room), keys.versions(room)], [after, JSON.stringify(userId), cap])) as [number, number, number]
    return { seq: Number(seq), unread: Number(unread), complete: complete === 1 }
  }
}

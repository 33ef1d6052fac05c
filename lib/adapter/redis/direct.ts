/**
 * Direct conversations on Redis: a room's two participants (set once, kept for good) and each
 * user's list of conversations, with each room's newest seq read from its meta.
 */
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { Script } from './script.js'

/**
 * A conversation in its starter's list, unless it is a new one past the starter's limit this
 * minute. KEYS: 1 the starter's conversations, 2 its count of new ones this minute. ARGV: 1 the
 * room, 2 the other participant, 3 the limit ('' for none). Returns 1 (listed) or 0 (over it).
 */
const START = new Script(2, `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if ARGV[3] ~= '' then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], 60000) end
  if n > tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)

export class RedisDirect {
  readonly #keys: Keys
  readonly #health: Health

  constructor (keys: Keys, health: Health) {
    this.#keys = keys
    this.#health = health
  }

  async start (room: string, a: string, b: string, perMinute: number | undefined): Promise<boolean> {
    const keys = this.#keys
    const tag = keys.userTag(a)
    // The starter's list first, within its limit: nothing else is written past it.
    const started = await this.#health.run(async (c) => await START.run(c, [keys.userDirect(tag), keys.userNewDirect(tag)], [room, b, perMinute ?? ''])) as number
    if (started === 0) return false
    const [x, y] = a < b ? [a, b] : [b, a]
    await Promise.all([
      this.#health.run(async (c) => await c.set(keys.participants(room), `${x}\n${y}`, 'NX')),
      a === b ? undefined : this.#health.run(async (c) => await c.hset(keys.userDirect(keys.userTag(b)), room, a))
    ])
    return true
  }

  async participants (room: string): Promise<[string, string] | null> {
    const pair = await this.#health.run(async (c) => await c.get(this.#keys.participants(room)))
    if (pair === null) return null
    const cut = pair.indexOf('\n')
    return [pair.slice(0, cut), pair.slice(cut + 1)]
  }

  async of (userId: string): Promise<Array<{ room: string, with: string, seq: number }>> {
    const keys = this.#keys
    const rooms = await this.#health.run(async (c) => await c.hgetall(keys.userDirect(keys.userTag(userId))))
    return await Promise.all(Object.entries(rooms).map(async ([room, other]) => {
      const seq = await this.#health.run(async (c) => await c.hget(keys.meta(room), 's'))
      return { room, with: other, seq: Number(seq ?? 0) }
    }))
  }
}

/**
 * Direct conversations on Redis: a room's two participants (set once, kept for good) and each
 * user's list of conversations, with each room's newest seq read from its meta.
 */
import type { Health } from './health.js'
import type { Keys } from './keys.js'

export class RedisDirect {
  readonly #keys: Keys
  readonly #health: Health

  constructor (keys: Keys, health: Health) {
    this.#keys = keys
    this.#health = health
  }

  async start (room: string, a: string, b: string): Promise<void> {
    const keys = this.#keys
    const [x, y] = a < b ? [a, b] : [b, a]
    await Promise.all([
      this.#health.run(async (c) => await c.set(keys.participants(room), `${x}\n${y}`, 'NX')),
      this.#health.run(async (c) => await c.hset(keys.userDirect(keys.userTag(a)), room, b)),
      a === b ? undefined : this.#health.run(async (c) => await c.hset(keys.userDirect(keys.userTag(b)), room, a))
    ])
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

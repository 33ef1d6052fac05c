/**
 * Bans and mutes on Redis: each in the user's hash (read with the admission, in the same script
 * call) and, when it is a room's, in the room's hash (for the room's listing). Each hash lives as
 * long as its longest entry; an expired entry is ignored when read and removed when its hash is
 * listed or changed.
 */
import { inForce, type Restriction, type RestrictionKind } from '../../model.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { scripts } from './scripts.js'

function field (kind: RestrictionKind, room: string | undefined): string {
  return `${kind}\n${room ?? ''}`
}

function lasts (r: Restriction, now: number): number {
  return r.until === undefined ? 0 : Math.max(1, r.until - now)
}

/** The restrictions in force among a hash's values (fields and values, flat, as HGETALL gives them). */
export function restrictionsOf (flat: unknown[], now = Date.now()): Restriction[] {
  const out: Restriction[] = []
  for (let i = 1; i < flat.length; i += 2) {
    try {
      const r = JSON.parse(String(flat[i])) as Restriction
      if (inForce(r, now)) out.push(r)
    } catch {}
  }
  return out
}

export class RedisRestrictions {
  readonly #keys: Keys
  readonly #health: Health

  constructor (keys: Keys, health: Health) {
    this.#keys = keys
    this.#health = health
  }

  async restrict (r: Restriction): Promise<void> {
    const keys = this.#keys
    const now = Date.now()
    const json = JSON.stringify(r)
    await Promise.all([
      this.#health.run(async (c) => await scripts.restrict.run(c, [keys.userRestrictions(keys.userTag(r.userId))], [field(r.kind, r.room), json, lasts(r, now)])),
      r.room === undefined ? undefined : this.#health.run(async (c) => await scripts.restrict.run(c, [keys.roomRestrictions(r.room!, r.kind)], [r.userId, json, lasts(r, now)]))
    ])
  }

  async lift (kind: RestrictionKind, userId: string, room: string | undefined): Promise<boolean> {
    const keys = this.#keys
    const key = keys.userRestrictions(keys.userTag(userId))
    const was = await this.#health.run(async (c) => await c.hget(key, field(kind, room)))
    await Promise.all([
      this.#health.run(async (c) => await c.hdel(key, field(kind, room))),
      room === undefined ? undefined : this.#health.run(async (c) => await c.hdel(keys.roomRestrictions(room, kind), userId))
    ])
    return was !== null && restrictionsOf(['', was]).length === 1
  }

  async ofUser (userId: string): Promise<Restriction[]> {
    const key = this.#keys.userRestrictions(this.#keys.userTag(userId))
    const flat = await this.#health.run(async (c) => await c.hgetall(key))
    return restrictionsOf(Object.entries(flat).flat())
  }

  async inRoom (kind: RestrictionKind, room: string): Promise<Restriction[]> {
    const key = this.#keys.roomRestrictions(room, kind)
    const flat = await this.#health.run(async (c) => await c.hgetall(key))
    const now = Date.now()
    const live: Restriction[] = []
    const gone: string[] = []
    for (const [userId, json] of Object.entries(flat)) {
      const [r] = restrictionsOf(['', json], now)
      if (r === undefined) gone.push(userId)
      else live.push(r)
    }
    if (gone.length > 0) void this.#health.run(async (c) => await c.hdel(key, ...gone)).catch(() => {})
    return live.sort((a, b) => a.at - b.at)
  }
}

/**
 * A connection's bans and mutes, as its process knows them: loaded with its admission (one round
 * trip shared with the per-user count), then kept current by the `restrict`/`lift` commands that
 * `app.chat.ban/mute/unban/unmute` send to every connection of the user. Checked in memory on
 * every join and message, so they cost nothing on the hot path. Each expires by itself at `until`.
 */
import { FST_CHAT_BANNED } from '../errors.js'
import { inForce, type Restriction, type RestrictionKind } from '../model.js'

export { inForce }

function keyOf (kind: RestrictionKind, room: string | undefined): string {
  return `${kind}\n${room ?? ''}`
}

export class Restrictions {
  readonly #entries = new Map<string, Restriction>()

  constructor (list: Iterable<Restriction> = []) {
    for (const r of list) this.add(r)
  }

  add (r: Restriction): void {
    this.#entries.set(keyOf(r.kind, r.room), r)
  }

  lift (kind: RestrictionKind, room: string | undefined): void {
    this.#entries.delete(keyOf(kind, room))
  }

  /** The restriction of this kind in force for `room` (its own, or the chat-wide one), if any. */
  find (kind: RestrictionKind, room: string | undefined, now = Date.now()): Restriction | undefined {
    return this.#live(keyOf(kind, room), now) ?? (room === undefined ? undefined : this.#live(keyOf(kind, undefined), now))
  }

  get size (): number {
    return this.#entries.size
  }

  #live (key: string, now: number): Restriction | undefined {
    const r = this.#entries.get(key)
    if (r === undefined) return undefined
    if (r.until !== undefined && r.until <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return r
  }
}

/** FST_CHAT_BANNED (403) for a ban in force: from the whole chat or from a room, until when. */
export function bannedError (r: Restriction): Error {
  const where = r.room === undefined ? 'from this chat' : `from room ${JSON.stringify(r.room)}`
  return new FST_CHAT_BANNED(r.until === undefined ? where : `${where} until ${new Date(r.until).toISOString()}`)
}

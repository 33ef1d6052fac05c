/**
 * Bans and mutes kept in memory (the memory adapter's, shared by the nodes of a bus): per user,
 * for admission and for a new connection, and per room, for the listings. Each ends by itself at
 * `until`: expired entries are dropped whenever their user or room is read, and by a sweep on
 * every change, so nothing expired accumulates.
 */
import { inForce, type Restriction, type RestrictionKind } from '../model.js'

function field (kind: RestrictionKind, room: string | undefined): string {
  return `${kind}\n${room ?? ''}`
}

export class MemoryRestrictions {
  /** userId -> "<kind>\n<room>" -> restriction */
  readonly #byUser = new Map<string, Map<string, Restriction>>()
  /** "<kind>\n<room>" -> userId -> restriction (room-scoped ones only) */
  readonly #byRoom = new Map<string, Map<string, Restriction>>()

  restrict (r: Restriction): void {
    this.#sweep()
    let mine = this.#byUser.get(r.userId)
    if (mine === undefined) this.#byUser.set(r.userId, mine = new Map())
    mine.set(field(r.kind, r.room), r)
    if (r.room === undefined) return
    let room = this.#byRoom.get(field(r.kind, r.room))
    if (room === undefined) this.#byRoom.set(field(r.kind, r.room), room = new Map())
    room.set(r.userId, r)
  }

  lift (kind: RestrictionKind, userId: string, room: string | undefined): boolean {
    this.#sweep()
    const mine = this.#byUser.get(userId)
    const had = mine?.delete(field(kind, room)) === true
    if (mine?.size === 0) this.#byUser.delete(userId)
    if (room !== undefined) {
      const inRoom = this.#byRoom.get(field(kind, room))
      inRoom?.delete(userId)
      if (inRoom?.size === 0) this.#byRoom.delete(field(kind, room))
    }
    return had
  }

  /** A user's restrictions in force. */
  of (userId: string, now = Date.now()): Restriction[] {
    return [...this.#byUser.get(userId)?.values() ?? []].filter((r) => inForce(r, now))
  }

  /** A room's restrictions of one kind in force. */
  inRoom (kind: RestrictionKind, room: string, now = Date.now()): Restriction[] {
    return [...this.#byRoom.get(field(kind, room))?.values() ?? []].filter((r) => inForce(r, now))
  }

  clear (): void {
    this.#byUser.clear()
    this.#byRoom.clear()
  }

  #sweep (now = Date.now()): void {
    for (const [userId, mine] of this.#byUser) {
      for (const [k, r] of mine) {
        if (inForce(r, now)) continue
        mine.delete(k)
        if (r.room !== undefined) this.#byRoom.get(field(r.kind, r.room))?.delete(userId)
      }
      if (mine.size === 0) this.#byUser.delete(userId)
    }
    for (const [k, users] of this.#byRoom) if (users.size === 0) this.#byRoom.delete(k)
  }
}

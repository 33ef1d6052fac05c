/**
 * Who is typing in each room: ephemeral (no seq, not stored, no ack), cluster-wide. Each process
 * owns the entries of the users that typed on it (their expiry runs here, and it says when one
 * ends), and tells the other processes with the room's signals when an entry starts or ends, and
 * renews it while the user types on. The others keep a copy for twice the ttl, renewed after one:
 * a safety net for a process that died, and at most one signal per user per ttl. When a room's set changes, its local
 * members get `{"type":"typing","room":R,"users":[...]}` (the whole set, so a missed frame heals
 * with the next), at most one per room per MERGE_MS, never to a user about itself alone.
 */
import type { ChatAdapter } from '../adapter/contract.js'
import { encode } from '../protocol/codec.js'
import type { TypingFrame } from '../protocol/schemas.js'
import type { Connection } from '../transport/connection.js'
import type { LocalMember } from './delivery.js'
import type { Membership } from './membership.js'

/** Changes within this window are one frame, ms. */
export const MERGE_MS = 250

interface Entry {
  name?: string
  /** When it ends unless renewed, ms. */
  until: number
  /** Until when the others keep their copy (owned entries only). */
  told: number
  /** Whether this process owns it (the user typed here). */
  mine: boolean
}

interface RoomTyping {
  users: Map<string, Entry>
  /** When the room's last frame went out. */
  sent: number
  flush?: NodeJS.Timeout
}

export interface TypingOptions {
  ttl: number
  presenceLimit: number
  adapter: () => ChatAdapter
  membership: Membership<LocalMember>
  send: (conn: Connection, text: string) => void
}

export class Typing {
  readonly #o: TypingOptions
  readonly #rooms = new Map<string, RoomTyping>()
  #sweep: NodeJS.Timeout | undefined

  constructor (options: TypingOptions) {
    this.#o = options
  }

  /** The room's typing users now (for `joined`). */
  of (room: string): Array<{ userId: string, name?: string }> {
    const r = this.#rooms.get(room)
    return r === undefined ? [] : list(r)
  }

  /** A member said it is typing (or stopped). */
  typed (conn: Connection, room: string, on: boolean, name: string | undefined, now = Date.now()): void {
    if (on) this.#start(room, conn.userId, name, now)
    else this.stop(room, conn.userId)
  }

  /** A user stops typing in a room here (it sent a message, left, or said so). */
  stop (room: string, userId: string): void {
    const r = this.#rooms.get(room)
    const e = r?.users.get(userId)
    if (r === undefined || e === undefined || !e.mine) return
    r.users.delete(userId)
    this.#tell(room, { u: userId, until: 0 })
    this.#changed(room, r)
  }

  /** A signal from another process (or this one, which ignores its own). */
  signal (room: string, data: string, now = Date.now()): void {
    let s: { u: string, n?: string, until: number }
    try {
      s = JSON.parse(data)
    } catch {
      return
    }
    if (typeof s?.u !== 'string' || typeof s.until !== 'number') return
    let r = this.#rooms.get(room)
    const had = r?.users.get(s.u)
    if (had?.mine === true) return
    if (s.until <= now) {
      if (had === undefined) return
      r!.users.delete(s.u)
      this.#changed(room, r!)
      return
    }
    if (r === undefined) this.#rooms.set(room, r = { users: new Map(), sent: 0 })
    const e: Entry = { until: s.until, told: 0, mine: false }
    if (typeof s.n === 'string') e.name = s.n
    r.users.set(s.u, e)
    this.#arm()
    if (had === undefined) this.#changed(room, r)
  }

  /** The room has no local member any more: forget it. */
  forget (room: string): void {
    const r = this.#rooms.get(room)
    if (r === undefined) return
    clearTimeout(r.flush)
    this.#rooms.delete(room)
  }

  close (): void {
    clearInterval(this.#sweep)
    for (const r of this.#rooms.values()) clearTimeout(r.flush)
    this.#rooms.clear()
  }

  #start (room: string, userId: string, name: string | undefined, now: number): void {
    let r = this.#rooms.get(room)
    if (r === undefined) this.#rooms.set(room, r = { users: new Map(), sent: 0 })
    const ttl = this.#o.ttl
    const until = now + ttl
    const e = r.users.get(userId)
    if (e !== undefined && e.mine) {
      e.until = until
      // The others' copy lasts two ttls: renewed once less than one is left.
      if (e.told - now < ttl) { e.told = now + 2 * ttl; this.#tell(room, wire(userId, name, e.told)) }
      return
    }
    const entry: Entry = { until, told: now + 2 * ttl, mine: true }
    if (name !== undefined) entry.name = name
    r.users.set(userId, entry)
    this.#tell(room, wire(userId, name, entry.told))
    this.#arm()
    this.#changed(room, r)
  }

  #tell (room: string, signal: { u: string, n?: string, until: number }): void {
    this.#o.adapter().signal(room, JSON.stringify(signal)).catch(() => {})
  }

  /** One sweep timer for every room: entries end at their `until`. */
  #arm (): void {
    this.#sweep ??= setInterval(() => this.#expire(Date.now()), Math.max(100, Math.floor(this.#o.ttl / 6))).unref()
  }

  #expire (now: number): void {
    for (const [room, r] of this.#rooms) {
      let changed = false
      for (const [userId, e] of r.users) {
        if (e.until > now) continue
        r.users.delete(userId)
        // Ours: the others' copy would last another ttl; they hear it ended now.
        if (e.mine) this.#tell(room, { u: userId, until: 0 })
        changed = true
      }
      if (changed) this.#changed(room, r)
      else if (r.users.size === 0 && r.flush === undefined) this.#rooms.delete(room)
    }
    if (this.#rooms.size === 0) {
      clearInterval(this.#sweep)
      this.#sweep = undefined
    }
  }

  /** The set changed: a frame now, or at the end of the merge window. */
  #changed (room: string, r: RoomTyping): void {
    if (r.flush !== undefined) return
    const wait = Math.max(0, r.sent + MERGE_MS - Date.now())
    r.flush = setTimeout(() => {
      r.flush = undefined
      r.sent = Date.now()
      this.#send(room, r)
    }, wait)
  }

  #send (room: string, r: RoomTyping): void {
    const members = this.#o.membership.membersOf(room)
    if (members === undefined) return
    if ((this.#o.membership.usersOf(room)?.size ?? 0) > this.#o.presenceLimit) return
    const users = list(r)
    const frame: TypingFrame = { type: 'typing', room, users }
    const text = encode(frame)
    // Not to a user about itself alone.
    const only = users.length === 1 ? users[0].userId : undefined
    for (const m of members.values()) if (m.userId !== only) this.#o.send(m.conn, text)
  }
}

function wire (userId: string, name: string | undefined, until: number): { u: string, n?: string, until: number } {
  return name === undefined ? { u: userId, until } : { u: userId, n: name, until }
}

function list (r: RoomTyping): Array<{ userId: string, name?: string }> {
  const out: Array<{ userId: string, name?: string }> = []
  for (const [userId, e] of r.users) out.push(e.name === undefined ? { userId } : { userId, name: e.name })
  return out
}

/**
 * Read markers: how far each user has read in each room, per user (not per connection), moving
 * forward only. The adapter keeps them (memory; Redis, in the user's keys) and so does the store
 * when there is one, so that they outlive restarts: the adapter is asked first, the store when the
 * adapter has none. A user's first join of a room sets its marker at the room's newest seq
 * (joining an old room does not make its past unread); a direct conversation's starts at 0, so a
 * message that arrived while its recipient was away is unread.
 *
 * When a marker moves, the user's other connections (on any process) get a `read` frame, and so
 * do the room's other members with read receipts on and the room within the presence limit:
 * coalesced per turn (one frame per user and room, at the highest seq).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatAdapter } from '../adapter/contract.js'
import { encode } from '../protocol/codec.js'
import type { ReadFrame, Ref, ServerFrame } from '../protocol/schemas.js'
import type { ChatStore } from '../store/contract.js'
import type { Connection } from '../transport/connection.js'
import { isDirect } from './direct.js'

/** Unread counts stop here: past it, `"1000+"` (counting on would scan every message since the marker). */
export const UNREAD_CAP = 1000

export type UnreadCount = number | '1000+'

/** A room (or direct conversation) as `GET /users/me/unread` and `app.chat.unread` list it. */
export interface UnreadRoom {
  room: string
  /** The room's newest seq. */
  seq: number
  /** The user's read marker (0: none). */
  lastRead: number
  /** Messages after `lastRead` that others sent (deleted ones not counted). */
  unread: UnreadCount
}

/** What read markers need of the hub (it is one). */
export interface ReadsHost {
  readonly adapter: ChatAdapter
  /** The store, when there is one. */
  readonly link: { readonly store: ChatStore } | undefined
  readonly membership: { has: (room: string, clientId: string) => boolean }
  /** This process's connections. */
  readonly connections: ReadonlyMap<string, Connection>
  readonly direct: { participants: (room: string) => Promise<[string, string] | null> }
  send: (conn: Connection, frame: ServerFrame) => void
  /** The last seq delivered here in a room with local members. */
  position: (room: string) => { seq: number } | undefined
  readonly log: FastifyBaseLogger
}

interface Pending {
  room: string
  userId: string
  seq: number
  /** The connection that read: it told itself. */
  from: string
}

function counted (n: number): UnreadCount {
  return n > UNREAD_CAP ? '1000+' : n
}

export class ReadMarkers {
  readonly #host: ReadsHost
  readonly #receipts: boolean
  readonly #presenceLimit: number
  readonly #pending = new Map<string, Pending>()
  #flushing = false

  constructor (host: ReadsHost, opts: { readReceipts: boolean, presenceLimit: number }) {
    this.#host = host
    this.#receipts = opts.readReceipts
    this.#presenceLimit = opts.presenceLimit
  }

  /** At a join (`seq`: the room's newest): the user's marker, set on its first join, and what it has not read. */
  async atJoin (userId: string, room: string, seq: number): Promise<{ lastRead: number, unread: UnreadCount }> {
    try {
      const marker = await this.#marker(userId, room, seq, isDirect(room))
      const lastRead = Math.min(marker, seq)
      if (lastRead >= seq) return { lastRead, unread: 0 }
      return { lastRead, unread: counted(await this.#count(room, userId, lastRead, seq)) }
    } catch (err) {
      // The store is away: joins work from the hot window, and so do their counts (nothing is
      // written meanwhile, so a marker the adapter lacks is not set from a guess).
      if (this.#host.link?.store === undefined || (err as { code?: string }).code !== 'FST_CHAT_UNAVAILABLE') throw err
      const adapter = this.#host.adapter
      const held = (await adapter.readMarkers(userId, [room])).get(room)
      const lastRead = Math.min(held ?? (isDirect(room) ? 0 : seq), seq)
      if (lastRead >= seq) return { lastRead, unread: 0 }
      return { lastRead, unread: counted((await adapter.unread(room, userId, lastRead, UNREAD_CAP + 1)).unread) }
    }
  }

  /**
   * A connection read `room` up to `seq` (clamped to what the room has): its user's marker moves
   * there if that is forward. Resolves the marker, or null when the connection may not (not a
   * member, nor a participant of the direct conversation).
   */
  async mark (conn: Connection, room: string, seq: number, ref: Ref | undefined): Promise<number | null> {
    const host = this.#host
    let newest = host.membership.has(room, conn.id) ? host.position(room)?.seq : undefined
    if (newest === undefined) {
      if (!isDirect(room)) return null
      const pair = await host.direct.participants(room)
      if (pair === null || !pair.includes(conn.userId)) return null
      newest = await this.#newest(room, conn.userId)
    }
    const now = await this.#move(conn.userId, room, Math.min(seq, newest), conn.id)
    if (ref !== undefined) host.send(conn, { type: 'read', room, userId: conn.userId, seq: now, ref })
    return now
  }

  /** The host marks a user's room read up to `seq` (`app.chat.markRead`): every connection of the user hears of it. */
  async markUser (userId: string, room: string, seq: number): Promise<number> {
    return await this.#move(userId, room, Math.min(seq, await this.#newest(room, userId)), '')
  }

  async #move (userId: string, room: string, target: number, from: string): Promise<number> {
    const store = this.#host.link?.store
    const [held, kept] = await Promise.all([
      this.#host.adapter.markRead(userId, room, target),
      store?.markRead(userId, room, target)
    ])
    const now = Math.max(held.seq, kept?.seq ?? 0)
    if (held.moved || kept?.moved === true) this.#queue({ room, userId, seq: now, from })
    return now
  }

  /** Every room the user has a marker in, and every direct conversation it has: newest seq, marker, unread. */
  async list (userId: string): Promise<UnreadRoom[]> {
    const host = this.#host
    const adapter = host.adapter
    const [held, kept, conversations] = await Promise.all([adapter.readMarkers(userId), host.link?.store?.readMarkers(userId), adapter.conversations(userId)])
    const markers = new Map(held)
    for (const [room, seq] of kept ?? []) markers.set(room, Math.max(seq, markers.get(room) ?? 0))
    for (const c of conversations) if (!markers.has(c.room)) markers.set(c.room, 0)
    const rooms = await Promise.all([...markers].map(async ([room, marker]): Promise<UnreadRoom> => {
      const { seq, unread } = await this.#unread(room, userId, marker)
      return { room, seq, lastRead: Math.min(marker, seq), unread: counted(unread) }
    }))
    return rooms.sort((a, b) => a.room < b.room ? -1 : a.room > b.room ? 1 : 0)
  }

  /** The user's marker in `room`: the adapter's, else the store's; on a first join of a room (not a conversation), set at `seq`. */
  async #marker (userId: string, room: string, seq: number, direct: boolean): Promise<number> {
    const adapter = this.#host.adapter
    const store = this.#host.link?.store
    // Without a store, one round trip: the marker, set first if the user has none.
    if (store === undefined && !direct) return (await adapter.markRead(userId, room, seq, true)).seq
    const held = (await adapter.readMarkers(userId, [room])).get(room)
    if (held !== undefined) return held
    if (store === undefined) return 0
    const kept = direct ? (await store.readMarkers(userId, [room])).get(room) : (await store.markRead(userId, room, seq, true)).seq
    if (kept === undefined) return 0
    // The adapter lost it (a restart): it has it again.
    await adapter.markRead(userId, room, kept)
    return kept
  }

  /**
   * What the user has not read after `after` (`seq`: the room's newest, as its authority says): the
   * hot window counts when it holds every event since the marker at that same newest seq (a join
   * in a reconnection storm stays off the database), the store when it does not.
   */
  async #count (room: string, userId: string, after: number, seq: number): Promise<number> {
    const store = this.#host.link?.store
    const held = await this.#host.adapter.unread(room, userId, after, UNREAD_CAP + 1)
    if (store === undefined || (held.complete && held.seq === seq)) return held.unread
    return (await store.unread(room, userId, after, UNREAD_CAP + 1)).unread
  }

  /** The room's newest seq and the count after `after` from the room's authority: the store when there is one. */
  async #unread (room: string, userId: string, after: number, cap = UNREAD_CAP + 1): Promise<{ seq: number, unread: number }> {
    const store = this.#host.link?.store
    if (store !== undefined) return await store.unread(room, userId, after, cap)
    return await this.#host.adapter.unread(room, userId, after, cap)
  }

  async #newest (room: string, userId: string): Promise<number> {
    return (await this.#unread(room, userId, 0, 0)).seq
  }

  #queue (p: Pending): void {
    const key = `${p.room}\n${p.userId}`
    const was = this.#pending.get(key)
    if (was === undefined || was.seq < p.seq) this.#pending.set(key, p)
    if (this.#flushing) return
    this.#flushing = true
    setImmediate(() => {
      this.#flushing = false
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const p of pending) {
        this.#tell(p).catch((err: unknown) => this.#host.log.warn({ err, room: p.room }, 'could not tell of a read marker'))
      }
    })
  }

  /** The room's members (with receipts, within the limit) and the user's other connections anywhere. */
  async #tell ({ room, userId, seq, from }: Pending): Promise<void> {
    const host = this.#host
    const adapter = host.adapter
    const frame: ReadFrame = { type: 'read', room, userId, seq }
    let published = false
    if (this.#receipts) {
      const direct = isDirect(room)
      const members = direct ? 0 : (await adapter.room(room))?.members ?? 0
      if (direct || members <= this.#presenceLimit) {
        await adapter.publish(room, encode(frame), from === '' ? undefined : from)
        published = true
      }
    }
    const others = (await adapter.clientsOf(userId)).filter((id) => id !== from)
    await Promise.all(others.map(async (id) => {
      const conn = host.connections.get(id)
      if (conn !== undefined) {
        if (!published || !host.membership.has(room, id)) host.send(conn, frame)
        return
      }
      await host.adapter.command(id, published ? { op: 'read', frame, unlessIn: room } : { op: 'read', frame })
    }))
  }

  /** Nothing left to tell (the chat is closing). */
  close (): void {
    this.#pending.clear()
  }
}

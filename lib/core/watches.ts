/**
 * Who watches whose presence: a connection may watch up to MAX_WATCHED users (`watch`/`unwatch`),
 * and gets a `presence` frame for each at once, then one on every change of any of them anywhere
 * in the chat. This process asks the adapter to hear of a user while at least one of its
 * connections watches it, and forgets a connection's watches when it closes.
 */
import type { ChatAdapter } from '../adapter/contract.js'
import type { ChatUser } from '../model.js'
import { encode } from '../protocol/codec.js'
import type { PresenceFrame } from '../protocol/schemas.js'
import type { Connection } from '../transport/connection.js'

/** Most users one connection may watch. */
export const MAX_WATCHED = 100

export type WatchOutcome = { status: 'ok', watching: string[] } | { status: 'too-many' } | { status: 'forbidden', userId: string }

export class Watches {
  readonly #adapter: () => ChatAdapter
  readonly #send: (conn: Connection, text: string) => void
  readonly #canSee: ((viewer: ChatUser, userId: string) => boolean | Promise<boolean>) | undefined
  /** clientId -> the users it watches */
  readonly #byConn = new Map<string, Set<string>>()
  /** userId -> the local connections watching it */
  readonly #byUser = new Map<string, Set<Connection>>()

  constructor (adapter: () => ChatAdapter, send: (conn: Connection, text: string) => void, canSee: ((viewer: ChatUser, userId: string) => boolean | Promise<boolean>) | undefined) {
    this.#adapter = adapter
    this.#send = send
    this.#canSee = canSee
  }

  /** Watches `users` (all or none): their presence now, then every change. */
  async watch (conn: Connection, users: string[]): Promise<WatchOutcome> {
    const mine = this.#byConn.get(conn.id) ?? new Set<string>()
    const wanted = [...new Set(users)]
    const fresh = wanted.filter((u) => !mine.has(u))
    if (mine.size + fresh.length > MAX_WATCHED) return { status: 'too-many' }
    if (this.#canSee !== undefined) {
      for (const u of fresh) if (await this.#canSee(conn.user, u) !== true) return { status: 'forbidden', userId: u }
    }
    if (conn.closed) return { status: 'ok', watching: [...mine] }
    this.#byConn.set(conn.id, mine)
    for (const u of fresh) {
      mine.add(u)
      let watchers = this.#byUser.get(u)
      if (watchers === undefined) {
        this.#byUser.set(u, watchers = new Set())
        watchers.add(conn)
        try {
          // Heard of before it is read: no change falls between the read and the subscription.
          await this.#adapter().watch(u)
        } catch (err) {
          await this.unwatch(conn, fresh)
          throw err
        }
      } else {
        watchers.add(conn)
      }
    }
    const now = await this.#adapter().presence(wanted)
    for (let i = 0; i < wanted.length; i++) {
      this.#send(conn, encode(frame(wanted[i], now[i].online, now[i].lastSeen)))
    }
    return { status: 'ok', watching: [...mine] }
  }

  /** Stops watching `users`; resolves with who is still watched. */
  async unwatch (conn: Connection, users: string[]): Promise<string[]> {
    const mine = this.#byConn.get(conn.id)
    if (mine === undefined) return []
    const stopped: string[] = []
    for (const u of users) {
      if (!mine.delete(u)) continue
      const watchers = this.#byUser.get(u)
      watchers?.delete(conn)
      if (watchers?.size === 0) {
        this.#byUser.delete(u)
        stopped.push(u)
      }
    }
    if (mine.size === 0) this.#byConn.delete(conn.id)
    await Promise.all(stopped.map(async (u) => await this.#adapter().unwatch(u)))
    return [...mine]
  }

  /** A connection closed: its watches end. */
  closed (conn: Connection): Promise<unknown> | undefined {
    const mine = this.#byConn.get(conn.id)
    if (mine === undefined) return undefined
    return this.unwatch(conn, [...mine])
  }

  /** A watched user came online or went offline: every local watcher hears of it. */
  changed (userId: string, online: boolean, lastSeen: number | undefined): void {
    const watchers = this.#byUser.get(userId)
    if (watchers === undefined) return
    const text = encode(frame(userId, online, lastSeen))
    for (const conn of watchers) this.#send(conn, text)
  }
}

function frame (userId: string, online: boolean, lastSeen: number | undefined): PresenceFrame {
  const f: PresenceFrame = { type: 'presence', userId, online }
  if (!online && lastSeen !== undefined) f.lastSeen = lastSeen
  return f
}

/**
 * Direct messages: a conversation between two users is a room whose name is derived from both
 * ids (the same both ways, within the room-name pattern whatever the ids are), so history,
 * resume, refs, edits and deletes work for it as for any room. Only its two participants may be
 * in it. A direct message first makes every open connection of both users a member (on any
 * process), then is published to the room: each of their tabs gets it live, and a user who is
 * offline finds it in the conversation's history.
 */
import { createHash } from 'node:crypto'
import type { ChatAdapter, RemoteCommand, RemoteResult } from '../adapter/contract.js'
import type { Connection } from '../transport/connection.js'

/** Direct conversations' rooms: `dm:` and 43 characters of base64url (SHA-256 of the two ids). */
export const DIRECT_PREFIX = 'dm:'
/** The other party of a user's server conversation (`app.chat.sendToUser`): no token's sub can contain NUL. */
export const SERVER_PARTY = '\0server'
/** Conversations whose participants are remembered here (they never change). */
const MAX_KNOWN = 100_000

/** The room of the conversation between users `a` and `b`. */
export function directRoom (a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a]
  return DIRECT_PREFIX + createHash('sha256').update(`${x}\0${y}`).digest('base64url')
}

/** The room of a user's conversation with the server. */
export function serverRoom (userId: string): string {
  return directRoom(userId, SERVER_PARTY)
}

export function isDirect (room: string): boolean {
  return room.startsWith(DIRECT_PREFIX)
}

/** The other participant, as clients see it (`server` for a server conversation). */
export function otherParty (pair: [string, string], me: string): string {
  const other = pair[0] === me ? pair[1] : pair[0]
  return other === SERVER_PARTY ? 'server' : other
}

export class Direct {
  readonly #adapter: () => ChatAdapter
  readonly #command: (clientId: string, cmd: RemoteCommand) => Promise<RemoteResult>
  readonly #join: (conn: Connection, room: string) => Promise<unknown>
  readonly #known = new Map<string, [string, string]>()

  constructor (adapter: () => ChatAdapter, command: (clientId: string, cmd: RemoteCommand) => Promise<RemoteResult>, join: (conn: Connection, room: string) => Promise<unknown>) {
    this.#adapter = adapter
    this.#command = command
    this.#join = join
  }

  /**
   * Before `conn` writes to user `to`: the conversation recorded, `conn` in it (joined here, in
   * its own request, unless it is already), then every other connection of both users. Resolves
   * the room, or undefined when it would be a new conversation past the user's `perMinute`.
   */
  async prepare (conn: Connection, to: string, perMinute: number): Promise<string | undefined> {
    const room = await this.open(conn.userId, to, perMinute)
    if (room === undefined) return undefined
    await this.#join(conn, room)
    await this.reach(room, [conn.userId, to])
    return room
  }

  /** A conversation's participants (null: the room is none), remembered once known. */
  async participants (room: string): Promise<[string, string] | null> {
    const known = this.#known.get(room)
    if (known !== undefined) return known
    const pair = await this.#adapter().participants(room)
    if (pair !== null) this.#remember(room, pair)
    return pair
  }

  /**
   * The conversation between `a` and `b`: recorded the first time (unless `a` started `perMinute`
   * new ones this minute: undefined), its room always.
   */
  async open (a: string, b: string, perMinute?: number): Promise<string | undefined> {
    const room = directRoom(a, b)
    if (!this.#known.has(room)) {
      if (!await this.#adapter().startConversation(room, a, b, perMinute)) return undefined
      this.#remember(room, a < b ? [a, b] : [b, a])
    }
    return room
  }

  /** Makes every open connection of these users, on any process, a member of the room. */
  async reach (room: string, users: string[]): Promise<void> {
    const adapter = this.#adapter()
    const [members, ...clients] = await Promise.all([
      adapter.members(room, { limit: 1000 }),
      ...users.filter((u) => u !== SERVER_PARTY).map(async (u) => await adapter.clientsOf(u))
    ])
    const inside = new Set(members.members.map((m) => m.clientId))
    const missing = clients.flat().filter((c) => !inside.has(c))
    // A connection that closed meanwhile, or refuses (too many rooms), reads the history later.
    // At once, not behind each connection's own requests: two users writing to each other at the
    // same moment would otherwise wait on each other's queue.
    await Promise.all(missing.map(async (clientId) => await this.#command(clientId, { op: 'join', room, atOnce: true }).catch(() => 'not-found')))
  }

  #remember (room: string, pair: [string, string]): void {
    if (this.#known.size >= MAX_KNOWN) this.#known.delete(this.#known.keys().next().value as string)
    this.#known.set(room, pair)
  }
}

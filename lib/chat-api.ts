/**
 * `app.chat`: the host's own code's way into the chat, and what the REST routes call. It checks
 * its arguments (coded errors with a status, so a route can let them propagate), runs commands
 * on the process that holds a client, and turns outcomes into errors through outcomes.ts.
 */
import type { ChatAdapter, MemberPage, Page, RemoteCommand, RemoteResult, RoomPage, UserPresence } from './adapter/contract.js'
import { CloseCode, ROOM_REGEXP, SERVER_SENDER } from './constants.js'
import type { ChatHub } from './core/hub.js'
import {
  FST_CHAT_CLIENT_NOT_FOUND, FST_CHAT_CLOSING, FST_CHAT_INVALID_CLOSE_CODE, FST_CHAT_INVALID_CLOSE_REASON,
  FST_CHAT_INVALID_ARGUMENT, FST_CHAT_INVALID_CONTENT, FST_CHAT_INVALID_HISTORY_QUERY, FST_CHAT_INVALID_RESTRICTION, FST_CHAT_INVALID_META, FST_CHAT_INVALID_PAGE, FST_CHAT_INVALID_ROOM, FST_CHAT_TIMEOUT
} from './errors.js'
import type { HistoryPage, RoomUser } from './model.js'
import { MAX_PAGE, unwrapCursor, wrapCursor, type Listing } from './page-cursor.js'
import type { UnreadRoom } from './core/reads.js'
import type { ResolvedOptions } from './options.js'
import { refusal } from './outcomes.js'
import { SERVER_PARTY } from './core/direct.js'
import { createModeration } from './moderation.js'
import { userIdProblem } from './user-id.js'
import type { ChatApi } from './types.js'

/** A user-supplied value, made short and safe for an error message. */
export function shown (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 80) + '...' : value)
  if (typeof value === 'number') return String(value)
  return typeof value
}

/** Close codes a server may send: 1000, 1001, 1008, 1011 and the application range 3000-4999. */
function isCloseCode (code: unknown): code is number {
  return code === 1000 || code === 1001 || code === 1008 || code === 1011 ||
    (typeof code === 'number' && Number.isInteger(code) && code >= 3000 && code <= 4999)
}

export { MAX_PAGE }
/** Most messages of one history page. */
export const MAX_HISTORY_PAGE = 100

/** The adapter's page for a caller's cursor and limit of `listing` (of `room`'s members). */
function page (listing: Listing, room: string, { cursor, limit = 100 }: { cursor?: string, limit?: number }): Page {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
  return cursor === undefined ? { limit } : { cursor: unwrapCursor(listing, room, cursor), limit }
}

/** A page with its next cursor wrapped for callers. */
function wrapped<P extends { cursor?: string }> (listing: Listing, room: string, p: P): P {
  return p.cursor === undefined ? p : { ...p, cursor: wrapCursor(listing, room, p.cursor) }
}

/** Every item of a listing, page by page. */
async function everyPage<P extends { cursor?: string }, T> (next: (cursor: string | undefined) => Promise<P>, items: (p: P) => T[]): Promise<T[]> {
  const all: T[] = []
  let cursor: string | undefined
  do {
    const p = await next(cursor)
    all.push(...items(p))
    cursor = p.cursor
  } while (cursor !== undefined)
  return all
}

function checkRoom (room: unknown): asserts room is string {
  if (typeof room !== 'string' || !ROOM_REGEXP.test(room)) throw new FST_CHAT_INVALID_ROOM(shown(room))
}

/** Builds `app.chat` over the hub and its adapter. */
export function createChatApi (hub: ChatHub, opts: ResolvedOptions): ChatApi {
  const adapter = (): ChatAdapter => hub.adapter

  /** A user id, checked as everywhere (user-id.ts): FST_CHAT_INVALID_ARGUMENT, or `Err` where a method always threw that. */
  function checkUser (userId: unknown, Err: new (what: string, why: string) => Error = FST_CHAT_INVALID_ARGUMENT): asserts userId is string {
    const bad = userIdProblem(userId, opts.userIdMax)
    if (bad !== undefined) throw new Err('userId', `a user id (a token's sub) ${bad}`)
  }

  function checkContent (content: unknown, meta: unknown): void {
    if (typeof content !== 'string' || content.length === 0 || content.length > opts.maxMessageLength || content.includes('\0')) {
      throw new FST_CHAT_INVALID_CONTENT(opts.maxMessageLength)
    }
    if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) throw new FST_CHAT_INVALID_META('must be a JSON object')
  }

  /** A command on any client: here if this process holds it, else through the adapter. */
  async function command (clientId: string, cmd: RemoteCommand): Promise<RemoteResult> {
    if (hub.closing) throw new FST_CHAT_CLOSING()
    if (typeof clientId !== 'string' || clientId === '') return 'not-found'
    const result = await hub.command(clientId, cmd)
    if (result === 'timeout') throw new FST_CHAT_TIMEOUT(shown(clientId))
    return result
  }

  async function roomPage (options: { cursor?: string, limit?: number } = {}): Promise<RoomPage> {
    return wrapped('rooms', '', await adapter().rooms(page('rooms', '', options)))
  }

  async function memberPage (name: string, options: { cursor?: string, limit?: number } = {}): Promise<MemberPage & { users: RoomUser[] }> {
    checkRoom(name)
    const members = wrapped('members', name, await adapter().members(name, page('members', name, options)))
    // The page's users, each once, where its first connection on the page stands.
    const users = new Map<string, RoomUser>()
    for (const m of members.members) {
      if (users.has(m.userId)) continue
      const u: RoomUser = { userId: m.userId, connections: 0, joinedAt: m.joinedAt }
      if (m.name !== undefined) u.name = m.name
      users.set(m.userId, u)
    }
    const counts = await adapter().userConnections(name, [...users.keys()])
    let i = 0
    for (const u of users.values()) u.connections = counts[i++]
    return { ...members, users: [...users.values()] }
  }

  return Object.freeze({
    ...createModeration(adapter, () => hub.closing, command, opts.userIdMax),
    rooms: async () => await everyPage(async (cursor) => await roomPage({ cursor, limit: MAX_PAGE }), (p) => p.rooms),
    roomPage,
    room: async (name: string) => { checkRoom(name); return await adapter().room(name) },
    members: async (name: string) => await everyPage(async (cursor) => await memberPage(name, { cursor, limit: MAX_PAGE }), (p) => p.members),
    memberPage,

    async join (clientId: string, room: string): Promise<boolean> {
      checkRoom(room)
      const result = await command(clientId, { op: 'join', room })
      if (result === 'not-found') throw new FST_CHAT_CLIENT_NOT_FOUND(shown(clientId))
      const refused = refusal(result)
      if (refused !== undefined) throw refused.error(shown(clientId), shown(room), opts)
      return result === 'joined'
    },

    async leave (clientId: string, room: string): Promise<boolean> {
      checkRoom(room)
      if (hub.closing) return false
      return await command(clientId, { op: 'leave', room }) === 'left'
    },

    async broadcast (room: string, content: string, options: { meta?: Record<string, unknown> } = {}): Promise<{ id: string, seq: number }> {
      checkRoom(room)
      const meta = options?.meta
      checkContent(content, meta)
      if (hub.closing) throw new FST_CHAT_CLOSING()
      const { id, seq } = await hub.messages.publish(room, { from: SERVER_SENDER, userId: SERVER_SENDER }, content, meta, undefined, null)
      return { id, seq }
    },

    async sendToUser (userId: string, content: string, options: { meta?: Record<string, unknown> } = {}): Promise<{ id: string, seq: number, room: string }> {
      checkUser(userId, FST_CHAT_INVALID_RESTRICTION)
      checkContent(content, options?.meta)
      if (hub.closing) throw new FST_CHAT_CLOSING()
      const room = (await hub.direct.open(userId, SERVER_PARTY))!
      await hub.direct.reach(room, [userId])
      const { id, seq } = await hub.messages.publish(room, { from: SERVER_SENDER, userId: SERVER_SENDER }, content, options?.meta, undefined, null, userId)
      return { id, seq, room }
    },

    async participants (room: string): Promise<[string, string] | null> {
      checkRoom(room)
      const pair = await hub.direct.participants(room)
      return pair === null ? null : pair.map((u) => u === SERVER_PARTY ? 'server' : u) as [string, string]
    },

    async conversations (userId: string): Promise<Array<{ room: string, with: string, seq: number }>> {
      checkUser(userId)
      const list = await adapter().conversations(userId)
      const link = hub.link
      return await Promise.all(list.map(async (c) => ({
        room: c.room,
        with: c.with === SERVER_PARTY ? 'server' : c.with,
        seq: link === undefined ? c.seq : (await link.store.state(c.room)).seq
      })))
    },

    async unread (userId: string): Promise<UnreadRoom[]> {
      checkUser(userId)
      return await hub.reads.list(userId)
    },

    async markRead (userId: string, room: string, seq: number): Promise<number> {
      checkUser(userId)
      checkRoom(room)
      if (!Number.isSafeInteger(seq) || seq < 0) throw new FST_CHAT_INVALID_ARGUMENT('seq', 'must be a whole number from 0')
      return await hub.reads.markUser(userId, room, seq)
    },

    on: (event, listener) => { hub.events.on(event, listener) },
    off: (event, listener) => { hub.events.off(event, listener) },

    async disconnect (clientId: string, code: number = CloseCode.NORMAL, reason = ''): Promise<boolean> {
      if (!isCloseCode(code)) throw new FST_CHAT_INVALID_CLOSE_CODE(shown(code))
      if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) throw new FST_CHAT_INVALID_CLOSE_REASON()
      if (hub.closing) return false
      return await command(clientId, { op: 'disconnect', code, reason }) === 'closed'
    },

    stats: async () => await adapter().stats(hub.stats()),

    async presence (userId: string): Promise<{ userId: string } & UserPresence> {
      checkUser(userId, FST_CHAT_INVALID_RESTRICTION)
      const [p] = await adapter().presence([userId])
      return { userId, ...p }
    },

    async history (room: string, options: { after?: number, before?: number, limit?: number } = {}): Promise<HistoryPage> {
      checkRoom(room)
      const { after, before } = options
      const link = hub.link
      const most = link === undefined ? Math.max(1, Math.min(MAX_HISTORY_PAGE, opts.history.size)) : MAX_HISTORY_PAGE
      const limit = options.limit ?? Math.min(50, most)
      const valid = (n: unknown, min: number, max: number): boolean => n === undefined || (Number.isInteger(n) && (n as number) >= min && (n as number) <= max)
      if (!valid(after, 0, Number.MAX_SAFE_INTEGER) || !valid(before, 1, Number.MAX_SAFE_INTEGER) || !valid(limit, 1, most) ||
          (after !== undefined && before !== undefined)) {
        throw new FST_CHAT_INVALID_HISTORY_QUERY(most)
      }
      const page = link === undefined ? await adapter().history(room, { after, before, limit }) : await link.page(room, { after, before, limit })
      return { room, epoch: page.epoch, messages: page.messages.map((m) => JSON.parse(m) as Record<string, unknown>) }
    }
  } satisfies ChatApi)
}

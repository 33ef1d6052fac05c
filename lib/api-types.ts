/** What `app.chat` is: the host's way into the chat (see chat-api.ts for how it is built). */
import type { UnreadRoom } from './core/reads.js'
import type { ChatStats, ChatUser, HistoryPage, LeaveReason, MemberInfo, Restriction, RoomInfo, RoomUser } from './model.js'
import type { RestrictOptions } from './moderation.js'
import type { DeletedFrame, EditedFrame, MessageFrame } from './protocol/schemas.js'

/** The events of `app.chat.on(event, listener)`. */
export type ChatEventName = 'message' | 'edited' | 'deleted' | 'joined' | 'left' | 'connected' | 'disconnected'

/**
 * Each event's data: the frame's (as members get it) plus the claims of the user who did it
 * (`null` for the server's own messages and changes).
 */
export interface ChatEventMap {
  message: MessageFrame & { user: ChatUser | null }
  edited: EditedFrame & { user: ChatUser | null }
  deleted: DeletedFrame & { user: ChatUser | null }
  /** A connection joined a room (here: its process emits it). */
  joined: { room: string, clientId: string, userId: string, members: number, user: ChatUser }
  /**
   * A connection left a room, for any reason. `user` is absent when the process that held it died
   * (another process reaped it).
   */
  left: { room: string, clientId: string, userId: string, reason: LeaveReason, user?: ChatUser }
  connected: { clientId: string, userId: string, user: ChatUser }
  disconnected: { clientId: string, userId: string, reason: 'closed' | 'timeout', user: ChatUser }
}

/**
 * `app.chat`: the chat for the host's own code (implemented by lib/chat-api.ts). Methods that a
 * multi-process deployment answers by asking other processes return Promises. Invalid arguments
 * reject with the coded errors of `errors.ts` (each with a `statusCode`, so a route can let them
 * propagate).
 */
export interface ChatApi {
  /** Every room with members, sorted by name (code-unit order): all pages of `roomPage`. */
  rooms (): Promise<RoomInfo[]>
  /**
   * A page of the rooms with members, sorted by name (code-unit order): `limit` (default 100, at
   * most 1000) rooms after `cursor` (from the previous page); `cursor` in the result asks for the
   * next page and is absent on the last. Rooms that come or go between pages appear, or not, by
   * their name's place.
   */
  roomPage (options?: { cursor?: string, limit?: number }): Promise<{ rooms: RoomInfo[], cursor?: string }>
  /** One room, or `null` if it has no members. */
  room (name: string): Promise<RoomInfo | null>
  /** The members of a room, in join order; empty if it has none: all pages of `memberPage`. */
  members (name: string): Promise<MemberInfo[]>
  /** A page of a room's members, in join order (like `roomPage`). */
  memberPage (name: string, options?: { cursor?: string, limit?: number }): Promise<{ members: MemberInfo[], users: RoomUser[], cursor?: string }>
  /**
   * Joins a connected client to a room: it gets `joined`, the other members `userJoined`.
   * Resolves `false` if it was already a member. Rejects `FST_CHAT_CLIENT_NOT_FOUND`,
   * `FST_CHAT_TOO_MANY_ROOMS`, `FST_CHAT_SERVER_FULL`, `FST_CHAT_ROOM_FULL`,
   * `FST_CHAT_JOIN_FORBIDDEN`, `FST_CHAT_INVALID_ROOM`.
   */
  join (clientId: string, room: string): Promise<boolean>
  /**
   * Removes a client from a room: it gets `left` with `reason: "removed"`, the others `userLeft`.
   * Resolves `false` if it was not a member (or is not connected).
   */
  leave (clientId: string, room: string): Promise<boolean>
  /**
   * Sends a server message (`from: "server"`; `onMessage` does not see it) to every member of a
   * room, with `meta` if given; resolves with its id and seq (with a store: once committed).
   */
  broadcast (room: string, content: string, options?: { meta?: Record<string, unknown> }): Promise<{ id: string, seq: number }>
  /**
   * A server notice to a user: kept in the user's server conversation (a direct room with
   * `with: "server"`) and delivered to every connection of the user, anywhere in the chat, as a
   * `message` from `server` with `"to": userId`. Resolves with its id, seq and room.
   */
  sendToUser (userId: string, content: string, options?: { meta?: Record<string, unknown> }): Promise<{ id: string, seq: number, room: string }>
  /** A direct conversation's two participants (sorted user ids), or null when the room is not one. */
  participants (room: string): Promise<[string, string] | null>
  /** A user's direct conversations: each room, the other participant (`server` for its server conversation), and the room's newest seq. */
  conversations (userId: string): Promise<Array<{ room: string, with: string, seq: number }>>
  /**
   * Every room the user has a read marker in (set on its first join of a room) and every direct
   * conversation it has: the room's newest seq, the marker, and the messages after it that others
   * sent (a count up to 1,000, then `"1000+"`).
   */
  unread (userId: string): Promise<UnreadRoom[]>
  /**
   * Moves a user's read marker in a room up to `seq` (clamped to the room's newest; never back),
   * as its `read` action does: its connections, and the room's members with read receipts, hear
   * of it. Resolves the marker.
   */
  markRead (userId: string, room: string, seq: number): Promise<number>
  /**
   * Listens to an event of the chat (`message`, `edited`, `deleted`, `joined`, `left`,
   * `connected`, `disconnected`): each is emitted once in the whole chat, by the process where it
   * happened, after it is done. A listener that throws is logged, never breaks the chat.
   */
  on<E extends ChatEventName>(event: E, listener: (event: ChatEventMap[E]) => unknown): void
  /** Stops a listener given to `on`. */
  off<E extends ChatEventName>(event: E, listener: (event: ChatEventMap[E]) => unknown): void
  /**
   * Bans a user from a room (`room`) or from the whole chat, for `ttl` ms or until `unban`,
   * cluster-wide. A room ban takes every connection of the user out of the room at once (`left`
   * and `userLeft` with `reason: "banned"`) and refuses later joins (`BANNED`); a chat-wide ban
   * closes every connection of the user with 4003 `banned` and refuses new upgrades with 403.
   * Resolves with the ban as kept. Rejects `FST_CHAT_INVALID_RESTRICTION` for bad arguments.
   */
  ban (userId: string, options?: RestrictOptions): Promise<Restriction>
  /** Lifts a ban (of `room`, or the chat-wide one); resolves whether there was one. */
  unban (userId: string, options?: { room?: string }): Promise<boolean>
  /**
   * Mutes a user in a room (or everywhere): its `message`, `dm` and `edit` are answered `MUTED`
   * while reading still works. Same options and errors as `ban`.
   */
  mute (userId: string, options?: RestrictOptions): Promise<Restriction>
  /** Lifts a mute; resolves whether there was one. */
  unmute (userId: string, options?: { room?: string }): Promise<boolean>
  /**
   * A user's online status across the chat: `online` (an open connection anywhere), how many
   * connections, and `lastSeen` (when its last one closed) when offline. Not gated by
   * `canSeePresence`: this is the host's own code.
   */
  presence (userId: string): Promise<{ userId: string, online: boolean, connections: number, lastSeen?: number }>
  /** A room's bans in force (oldest first). */
  bans (room: string): Promise<Restriction[]>
  /** A room's mutes in force (oldest first). */
  mutes (room: string): Promise<Restriction[]>
  /** Closes a client's socket (default code 1000); resolves `false` if no such client is connected. */
  disconnect (clientId: string, code?: number, reason?: string): Promise<boolean>
  /** Connection, room and frame counters. */
  stats (): Promise<ChatStats>
  /**
   * A page of a room's messages, each at its latest version (a deleted one as a tombstone): the
   * first `limit` with seq > `after`, the last `limit` with seq < `before` (paging back), or the
   * newest `limit` with neither. `limit` defaults to 50, at most 100 (and at most `history.size`
   * without a store). With a store, the whole stored history; without, the hot window.
   */
  history (room: string, options?: { after?: number, before?: number, limit?: number }): Promise<HistoryPage>
}

/**
 * fastify-chat/client: a typed client for browsers and Node 20 (on the `ws` package where there
 * is no global WebSocket). Promise-returning join/leave/send that settle on the matching reply
 * (by `ref`), automatic reconnect with jittered backoff that rejoins its rooms with `since` (so
 * nothing is missed) and resends unacknowledged messages with their `ref` (so nothing is doubled),
 * and a hook to fetch a fresh token before each connection.
 */
import type { AckFrame, JoinedFrame, LeftFrame, Meta, ReadFrame, RefreshedFrame, WatchingFrame } from '../protocol/schemas.js'
import { ChatSession } from './session.js'
import type { ChatClientOptions } from './types.js'
import type { UnreadCount } from './unread.js'

export { ChatRequestError } from './requests.js'
export { TYPING_EVERY_MS, TYPING_IDLE_MS } from './typing.js'
export type { SocketConstructor, SocketLike } from './socket.js'

export type { ChatClientEvents, ChatClientOptions, ChatClientStatus, Missed } from './types.js'
export type { UnreadCount } from './unread.js'

export class ChatClient extends ChatSession {
  /** Joins a room; resolves with `joined`, rejects with the server's error. */
  async join (room: string): Promise<JoinedFrame> {
    return await this.request<JoinedFrame>({ action: 'join', room }, false)
  }

  /** Leaves a room; resolves with `left`. */
  async leave (room: string): Promise<LeftFrame> {
    return await this.request<LeftFrame>({ action: 'leave', room }, false)
  }

  /**
   * Sends a message; resolves with its `ack` (id and seq). If the connection drops first, it is
   * resent after the reconnect with the same `ref`: the server delivers it once either way.
   */
  async send (room: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    this.typingDebounce.sent(room)
    return await this.request<AckFrame>({ action: 'message', room, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, true)
  }

  /**
   * Sends a direct message to user `to`; resolves with its `ack`. It arrives, to every connection
   * of both users, as a `message` with the conversation's room and `to`; the conversation's room
   * is joined by itself (a `joined` event), so it is resumed after a reconnect like any room.
   * Resent after a reconnect with the same ref, as `send`.
   */
  async dm (to: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    return await this.request<AckFrame>({ action: 'dm', to, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, true)
  }

  /**
   * Edits message `id` of `room` (yours, unless the server allows more); resolves with the
   * edit's `ack`. Without `meta` the message keeps its own. Not resent after a reconnect: an
   * edit that may not have arrived rejects, and the application decides.
   */
  async edit (room: string, id: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    return await this.request<AckFrame>({ action: 'edit', room, id, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, false)
  }

  /** Deletes message `id` of `room`; resolves with the deletion's `ack`. */
  async delete (room: string, id: string): Promise<AckFrame> {
    return await this.request<AckFrame>({ action: 'delete', room, id }, false)
  }

  /**
   * Says this user is typing in `room` (`on`, the default) or stopped: call it on every keystroke
   * and when the input is cleared. Debounced (one `true` per 3 s while typing, `false` after 5 s
   * without a keystroke; a message ends it). Best effort: nothing is sent while disconnected.
   */
  typing (room: string, on = true): void {
    this.typingDebounce.typing(room, on)
  }

  /**
   * Marks `room` read up to `seq` (default: the newest message seen there): this user's read
   * marker moves there (never back; the server clamps it to the room's newest), the room's unread
   * count drops at once, and this user's other devices (and, with read receipts, the room) get a
   * `read`. Resolves with the server's `read` (the marker as it now stands). Works for a direct
   * conversation not joined here too.
   */
  async markRead (room: string, seq = this.lastSeq(room)): Promise<ReadFrame> {
    this.readTo(room, seq)
    const reply = await this.request<ReadFrame>({ action: 'read', room, seq }, false)
    this.readTo(room, reply.seq)
    return reply
  }

  /**
   * How many messages of `room` others sent that this user has not read: the server's count when
   * the room was joined, kept up to date with messages, reads (here or on another device) and
   * deletions; `"1000+"` past 1,000; 0 for a room not joined.
   */
  unread (room: string): UnreadCount {
    return this.unreadCounts.count(room)
  }

  /**
   * Watches users' online status: a `presence` event for each at once, then on every change
   * (watched again after a reconnect). Resolves with everyone watched; at most 100.
   */
  async watch (users: string[]): Promise<WatchingFrame> {
    const reply = await this.request<WatchingFrame>({ action: 'watch', users }, false)
    for (const u of users) this.watched.add(u)
    return reply
  }

  /** Stops watching users. */
  async unwatch (users: string[]): Promise<WatchingFrame> {
    for (const u of users) this.watched.delete(u)
    return await this.request<WatchingFrame>({ action: 'unwatch', users }, false)
  }

  /** Hands the server a fresh token before the current one expires. */
  async refresh (token: string): Promise<RefreshedFrame> {
    return await this.request<RefreshedFrame>({ action: 'refresh', token }, false)
  }
}

/** Creates a client; call `connect()` to open it. */
export function createChatClient (options: ChatClientOptions): ChatClient {
  return new ChatClient(options)
}

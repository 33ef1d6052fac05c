/**
 * The store contract: where a chat's messages are kept for good (the PostgreSQL store is the one
 * implementation; test/store-contract.ts holds any other to the same behaviour). With a store, it
 * is the one authority for a room's seq and epoch: a message is committed (and numbered) there
 * before anyone gets it, and its sender's `ack` means committed. The adapter's history stays the
 * hot window; the store serves what that window no longer holds.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Marker, Published } from '../model.js'

/** A message to keep: what its frame says, but the seq and epoch the store gives it. */
export interface StoreMessage {
  room: string
  id: string
  userId: string
  /** The sender's clientId, or "server". */
  from: string
  name?: string
  /** A direct message's recipient (its `to`). */
  to?: string
  content: string
  meta?: Record<string, unknown>
  /** When it was sent, ms. */
  timestamp: number
  /** Effectively-once: the sender's ref and a digest of what it says. */
  ref?: string
  digest?: string
}

/** One event of a room as kept: a message (at its latest version), an edit, or a deletion. */
export interface StoredEvent {
  kind: 'message' | 'edited' | 'deleted'
  room: string
  seq: number
  epoch: string
  /** The message's id (for an edit or a deletion: the message it changed). */
  id: string
  /** Who sent it (a message), edited or deleted it. */
  userId: string
  from: string
  name?: string
  /** A direct message's recipient. */
  to?: string
  /** Empty for a deletion, and for a deleted message (its content is gone). */
  content: string
  meta?: Record<string, unknown>
  /** When it happened, ms. */
  timestamp: number
  /** A message: when it was last edited, and when it was deleted (then content and meta are gone). */
  editedAt?: number
  deletedAt?: number
}

/** A change to a message: who makes it, when, and (for an edit) the new content and meta. */
export interface MessageChange {
  userId: string
  from: string
  at: number
  content?: string
  meta?: Record<string, unknown>
}

export interface ChatStore {
  /** A short name for logs, such as `postgres`. */
  readonly name: string
  /**
   * Commits messages of any rooms in one transaction: each room's get consecutive seqs, in the
   * order given. A message whose (user, room, ref) was kept within `refTtl` ms is not kept again:
   * `duplicate` (same digest) or `reused` (another digest), with the first one's id and seq.
   */
  append (messages: StoreMessage[], refTtl: number): Promise<Published[]>
  /** A room's newest seq and its epoch (a room it does not know gets an epoch, at seq 0). */
  state (room: string): Promise<{ seq: number, epoch: string }>
  /** The events of a room after `seq` (every kind, in seq order), at most `limit`; with the room's epoch. */
  events (room: string, after: number, limit: number): Promise<{ epoch: string, seq: number, events: StoredEvent[] }>
  /**
   * A page of a room's messages, each once at its latest version: the first `limit` after `after`,
   * the last `limit` before `before`, or the newest `limit` with neither.
   */
  messages (room: string, page: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: StoredEvent[] }>
  /** One message, at its latest version (null: not kept). */
  message (room: string, id: string): Promise<StoredEvent | null>
  /** Edits a message (not deleted): the `edited` event, with its own seq; null when there is no such message. */
  edit (room: string, id: string, change: MessageChange): Promise<StoredEvent | null>
  /** Deletes a message (its content and meta are gone): the `deleted` event; null when there is no such message. */
  delete (room: string, id: string, change: MessageChange): Promise<StoredEvent | null>
  /** A user's read markers (room -> seq): every one it has, or those of `rooms`. */
  readMarkers (userId: string, rooms?: string[]): Promise<Map<string, number>>
  /** Moves the user's marker in `room` up to `seq` (never down); with `init`, only when it has none. */
  markRead (userId: string, room: string, seq: number, init?: boolean): Promise<Marker>
  /** The room's newest seq, and its messages after `after` that others sent and nobody deleted, counted up to `cap`. */
  unread (room: string, userId: string, after: number, cap: number): Promise<{ seq: number, unread: number }>
  /** Releases what the store created (never a pool the host passed in). */
  close (): Promise<void>
}

/** What the `store` option takes: called once when the plugin starts, resolves a ready store. */
export type StoreFactory = (context: { log: FastifyBaseLogger }) => ChatStore | Promise<ChatStore>

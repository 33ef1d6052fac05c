/**
 * The adapter contract: where membership lives beyond this process and how frames reach the
 * other processes (as `socket.io-adapter`'s). The plugin keeps this process's memberships itself
 * and tells the adapter of every change; the adapter answers the questions that span processes and
 * carries frames to them. Adapters are made by factories (`memoryAdapter()`, `redisAdapter(...)`)
 * that the plugin calls once with its node. One contract suite (test/adapter-contract.ts) runs
 * against every implementation, alone and as two and three nodes.
 *
 * A method that needs an unreachable backend rejects with `FST_CHAT_UNAVAILABLE` (retryable)
 * instead of waiting.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { JoinOutcome, LeaveOutcome } from '../outcomes.js'
import type { ChatStats, HistoryLimits, LeaveReason, LocalRooms, Member, Restriction, RestrictionKind, RoomInfo } from '../model.js'
import type { ReadFrame } from '../protocol/schemas.js'
import type { TicketStore } from './tickets.js'
import type { MessageDraft, Published, StoredFrame, Revision, HeldMessage, Unread, Marker, UserPresence, RoomState, LeaveState, Resume, Page, RoomPage, MemberPage } from './values.js'

export type { MessageDraft, Published, StoredFrame, Revision, HeldMessage, Unread, Marker, UserPresence, RoomState, LeaveState, Resume, Page, RoomPage, MemberPage } from './values.js'

/** An operation on a client that another process holds (`app.chat.join/leave/disconnect`). */
export type RemoteCommand =
  /** `at once`: not queued behind the client's own requests (a direct message's reach, which must not wait on them). */
  | { op: 'join', room: string, atOnce?: boolean }
  | { op: 'leave', room: string }
  | { op: 'disconnect', code: number, reason: string }
  /** A ban or mute of the client's user: the client enforces it from now on (a ban also removes it). */
  | { op: 'restrict', restriction: Restriction }
  | { op: 'lift', kind: RestrictionKind, room?: string }
  /** Its user's read marker moved: the `read` frame for it, unless it is a member of `unlessIn` (it had it from there). */
  | { op: 'read', frame: ReadFrame, unlessIn?: string }

/**
 * The outcome of a command: what the holding process answered (a join or leave outcome, or
 * `closed`), `not-found` when no live process holds the client, or `timeout` when its process did
 * not answer in time.
 */
export type RemoteResult = JoinOutcome | LeaveOutcome | 'closed' | 'done' | 'not-found' | 'timeout'

/**
 * What the plugin hands an adapter's factory: this process's membership (kept by the plugin,
 * read-only to the adapter), the way to reach this process's sockets, and the way to act on them.
 */
export interface AdapterNode {
  /** This process's id in the chat: every clientId it makes starts with it and a dot. */
  readonly id: string
  /** This process's memberships. */
  readonly membership: LocalRooms
  /**
   * Writes one pre-serialized frame to every local member of `room` but `except`. An adapter
   * calls it for every frame published to a room this process has members in; a message comes
   * with its seq and epoch, so that the node can tell a hole (and read it from history) or a copy
   * (and drop it).
   */
  deliver (room: string, frame: string, except?: string, seq?: number, epoch?: string): void
  /**
   * The transport may have lost frames (its subscriber reconnected): the node reads what its
   * rooms (or this one room) missed from history and delivers it, in order, before anything newer.
   */
  resync (room?: string): void
  /** Runs a command on a client this process holds (asked by another process). */
  execute (clientId: string, command: RemoteCommand): Promise<RemoteResult>
  /** This process's own counters. */
  stats (): ChatStats
  /** Every client this process holds. */
  localClients (): Iterable<{ clientId: string, userId: string }>
  /**
   * A member was removed by the adapter, not by its connection (its process died, or it left
   * while the backend was unreachable): tell the room (`userLeft` with `reason`).
   */
  lost (room: string, member: { clientId: string, userId: string, name?: string }, state: LeaveState, reason: LeaveReason): void
  /**
   * A user this process watches (`watch`) came online (its first connection anywhere opened) or
   * went offline (its last closed, or its process died): `lastSeen` is when, for offline.
   */
  presenceChanged (userId: string, online: boolean, lastSeen: number | undefined): void
  /** A room's signal (`adapter.signal`), from any process with members there. */
  signal (room: string, data: string): void
  /** Where this process stands in a room it has members in: the last seq it delivered, and its epoch. */
  position (room: string): { seq: number, epoch: string } | undefined
  /** The plugin's logger. */
  readonly log: FastifyBaseLogger
  /** History limits: at least `size` messages younger than `ttl` per room, at most 2 x size. */
  readonly history: HistoryLimits
}

/** What the `adapter` option takes: called once when the plugin starts, resolves a ready adapter. */
export type AdapterFactory = (node: AdapterNode) => ChatAdapter | Promise<ChatAdapter>

export interface ChatAdapter {
  /** A short name for logs, such as `memory`. */
  readonly name: string
  /** One-time tickets that every process can redeem; without one the plugin keeps them in memory. */
  readonly tickets?: TicketStore
  /**
   * Before an upgrade: reserves a connection for `userId` if the user has fewer than `limit` across
   * every process (a reservation not confirmed by `connect` soon lapses), and resolves with the
   * user's bans and mutes in force (so that a chat-wide ban refuses the upgrade, and the new
   * connection knows the rest, in the same round trip). Resolves false when over the limit.
   */
  admit (userId: string, clientId: string, limit: number): Promise<Restriction[] | false>
  /** An admitted connection that never opened (its upgrade failed) gives its place back. */
  cancelAdmission (userId: string, clientId: string): Promise<void>
  /** A client connected to this process (its reservation, if any, becomes a connection). */
  connect (clientId: string, userId: string): Promise<void>
  /** A client of this process is gone (after it left all its rooms). */
  disconnect (clientId: string, userId: string): Promise<void>
  /** A local client joined `room` (already in the node's membership); resolves with the room's state. */
  join (room: string, member: Member): Promise<RoomState>
  /** A local member left `room` (already gone from the node's membership); resolves with the room's state. */
  leave (room: string, member: Member): Promise<LeaveState>
  /** Delivers a frame to every member of `room`, on every process, but `except`, each exactly once. */
  publish (room: string, frame: string, except?: string): Promise<void>
  /**
   * Hands `data` (one line, no newline) to every other process with members in `room`
   * (`node.signal`): what processes tell each other about a room, never sent to a client as is.
   */
  signal (room: string, data: string): Promise<void>
  /**
   * Assigns a message its seq (the room's next) and epoch, keeps it in the room's history and
   * delivers it like `publish`, in seq order; a resend (same dedupe key within the history ttl)
   * publishes nothing and resolves with the original (`duplicate` when the digest matches,
   * `reused` when it does not).
   */
  publishMessage (room: string, draft: MessageDraft): Promise<Published>
  /**
   * With a store: events the store numbered (in seq order within the call), kept in the history
   * (however they interleave with other processes' calls) and delivered like `publishMessage`'s.
   * Another epoch than the history's replaces it.
   */
  publishStored (room: string, epoch: string, events: StoredFrame[]): Promise<void>
  /**
   * Without a store: an edit or deletion of a message the history holds gets the room's next seq,
   * is kept and delivered, and the message becomes its new version. Resolves null (nothing done)
   * when the message is no longer held, or was deleted.
   */
  revise (room: string, revision: Revision): Promise<Published | null>
  /** A message the history holds, by id (null when it does not). */
  find (room: string, id: string): Promise<HeldMessage | null>
  /** The events after `seq` of `epoch` (messages at their latest version, edits, deletions), if all are still held. */
  since (room: string, seq: number, epoch: string): Promise<Resume>
  /**
   * A page of messages (not edits or deletions; each at its latest version, increasing seq): the
   * first `limit` after `after`, the last before `before`, or the newest with neither.
   */
  history (room: string, options: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }>
  /** A page of the rooms with members, sorted by name (code-unit order). */
  rooms (page: Page): Promise<RoomPage>
  /** One room, or null if it has no members. */
  room (name: string): Promise<RoomInfo | null>
  /** A page of a room's members, in join order. */
  members (name: string, page: Page): Promise<MemberPage>
  /** How many connections each of these users has in the room, across every process (0: none). */
  userConnections (name: string, userIds: string[]): Promise<number[]>
  /** Keeps a ban or mute (replacing the same kind for the same user and room), until its `until`. */
  restrict (restriction: Restriction): Promise<void>
  /** Ends a ban or mute early; resolves whether there was one in force. */
  lift (kind: RestrictionKind, userId: string, room: string | undefined): Promise<boolean>
  /** A room's bans (or mutes) in force. */
  restrictions (kind: RestrictionKind, room: string): Promise<Restriction[]>
  /** A user's bans and mutes in force, chat-wide and in every room (what a REST request is checked against). */
  userRestrictions (userId: string): Promise<Restriction[]>
  /**
   * Every connection of a user, on any process: open ones, and admitted ones still opening (from
   * the moment `admit` has reserved their place), so that a ban told to them all reaches every one.
   */
  clientsOf (userId: string): Promise<string[]>
  /**
   * Users' presence: online (an open connection anywhere), how many, and when the last one closed
   * (kept for the adapter's presence ttl).
   */
  presence (userIds: string[]): Promise<UserPresence[]>
  /** This process starts hearing of a user's presence changes (`node.presenceChanged`); counted, so watch and unwatch in pairs. */
  watch (userId: string): Promise<void>
  /** This process stops hearing of them (when its last watcher of the user stops). */
  unwatch (userId: string): Promise<void>
  /**
   * Records a direct conversation (idempotent): its room's two participants, and the room in each
   * one's list. With `perMinute`, `a` may start at most that many new ones in a minute, across
   * every process: past it, resolves false and records nothing (one `a` has already is not counted).
   */
  startConversation (room: string, a: string, b: string, perMinute?: number): Promise<boolean>
  /** A direct conversation's two participants (sorted), or null when the room is not one. */
  participants (room: string): Promise<[string, string] | null>
  /** A user's direct conversations: each room, the other participant, and the room's newest seq (0: none held). */
  conversations (userId: string): Promise<Array<{ room: string, with: string, seq: number }>>
  /** A user's read markers (room -> seq): every one it has, or those of `rooms`. */
  readMarkers (userId: string, rooms?: string[]): Promise<Map<string, number>>
  /**
   * Moves the user's read marker in `room` up to `seq` (never down); with `init`, only sets it when
   * the user has none there. Resolves where it stands.
   */
  markRead (userId: string, room: string, seq: number, init?: boolean): Promise<Marker>
  /**
   * The room's newest seq, and how many of the messages after `after` were sent by others than
   * `userId` (counting stops at `cap`; 0 counts nothing).
   */
  unread (room: string, userId: string, after: number, cap: number): Promise<Unread>
  /** Runs a command on a client held by another process. */
  command (clientId: string, command: RemoteCommand): Promise<RemoteResult>
  /** Counters summed over every live process (this one's given). */
  stats (local: ChatStats): Promise<ChatStats>
  /** Releases what the adapter created (never a client the host passed in). */
  close (): Promise<void>
}

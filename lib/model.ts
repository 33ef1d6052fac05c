/**
 * The value types every layer shares: who a user is, what a room, a member and a page of history
 * look like, the counters, what publishing did, restrictions. A leaf: it imports nothing, so that the public types, the adapter
 * contract and the core can all use it without importing each other.
 */

/**
 * The verified token's claims, as `request.jwtVerify()` returned them. `sub` is the user id,
 * `name` the display name. Extend it by declaration merging to type your own claims:
 *
 * ```ts
 * declare module 'fastify-chat' {
 *   interface ChatUser { tenant: string }
 * }
 * ```
 */
export interface ChatUser {
  sub: string
  name?: string
  role?: string
  exp?: number
  [claim: string]: unknown
}

/** One membership: who is in a room, since when. */
export interface Member {
  clientId: string
  userId: string
  /** The user's display name (the token's `name` claim), when it has one. */
  name?: string
  /** When the client joined the room, in ms since the epoch. */
  joinedAt: number
}

/** A room with members. */
export interface RoomInfo {
  name: string
  /** Number of members. */
  members: number
}

/** A member of a room, as `app.chat.members()` and the REST endpoint list it. */
export interface MemberInfo {
  clientId: string
  userId: string
  /** The user's display name, when its token has one. */
  name?: string
  /** When it joined the room, in ms since the epoch. */
  joinedAt: number
}

/** A user in a room (however many connections it has there), as the members listing gives it. */
export interface RoomUser {
  userId: string
  name?: string
  /** Its connections in the room, across every process. */
  connections: number
  /** When its first connection in the room joined, ms. */
  joinedAt: number
}

/** Counters since the plugin started. */
export interface ChatStats {
  /** Open sockets. */
  connections: number
  /** Rooms with at least one member. */
  rooms: number
  /** Memberships across all rooms. */
  members: number
  /** Frames received from clients. */
  messagesIn: number
  /** Frames sent to clients (a broadcast to 10 members counts 10). */
  messagesOut: number
}

/** A page of a room's history: `message` frames as delivered, in increasing seq. */
export interface HistoryPage {
  room: string
  epoch: string
  messages: Array<Record<string, unknown>>
}

/** Why a member left a room, as `userLeft.reason` says. */
export type LeaveReason = 'left' | 'closed' | 'removed' | 'timeout' | 'banned'

/** The history limits every history backend applies (see the `history` option). */
export interface HistoryLimits {
  /** At least this many messages per room (younger than ttl), at most twice as many. */
  readonly size: number
  /** ms. */
  readonly ttl: number
  /** Bytes of message text across all rooms (in-memory history). */
  readonly maxBytes: number
}

/** A ban keeps a user out (of a room, or of the whole chat); a mute keeps it from writing. */
export type RestrictionKind = 'ban' | 'mute'

/** A ban or a mute of a user, in a room or (without `room`) chat-wide. */
export interface Restriction {
  kind: RestrictionKind
  userId: string
  /** The room; absent: the whole chat. */
  room?: string
  /** When it ends by itself, ms since the epoch; absent: until lifted. */
  until?: number
  reason?: string
  /** When it was made, ms. */
  at: number
}

/**
 * What publishing a message did: `sent` (with its id, seq and epoch); `duplicate`, a resend of a
 * message already published (same user, room, ref and digest: nothing was sent, the original's id,
 * seq and epoch); or `reused`, the same ref with a different digest: nothing was sent, the ref
 * belongs to the earlier message whose id, seq and epoch these are.
 */
export interface Published {
  status: 'sent' | 'duplicate' | 'reused'
  id: string
  seq: number
  epoch: string
}

/** A read marker after a `markRead`: where it stands, and whether this call moved it. */
export interface Marker {
  seq: number
  moved: boolean
}

/** Whether a restriction is still in force at `now`. */
export function inForce (r: Restriction, now = Date.now()): boolean {
  return r.until === undefined || r.until > now
}

/**
 * What an adapter may read of this process's memberships (the core keeps them: core/membership.ts):
 * how many members a room has here, whose, and which rooms.
 */
export interface LocalRooms {
  count (room: string): number
  userCount (room: string, userId: string): number
  usersOf (room: string): ReadonlyMap<string, number> | undefined
  membersOf (room: string): ReadonlyMap<string, Member> | undefined
  rooms (): IterableIterator<[name: string, members: number]>
}

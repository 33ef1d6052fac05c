/**
 * Rooms as records: what a room is (its kind, title, topic, who made it), who belongs to it with
 * which role while they are away, and who is invited. State of record, so it lives in a store (in
 * memory for one process, PostgreSQL for a fleet), never only in an adapter. Depends on leaf values
 * only (model.ts), as the message store's contract does.
 */

/**
 * `public`: anyone the host's `canJoin` lets in; `private`: members and invitees only; `group`: a
 * conversation of named people whose room name derives from them; `dm`: a direct conversation.
 */
export type RoomKind = 'public' | 'private' | 'group' | 'dm'

/** A member's role in a room: owners change roles; owners and moderators moderate. */
export type RoomRole = 'owner' | 'moderator' | 'member'

/** What a new member may read: everything (`shared`) or from the seq at which it joined (`joined`). */
export type HistoryVisibility = 'shared' | 'joined'

export interface RoomRecord {
  room: string
  kind: RoomKind
  title?: string
  topic?: string
  meta?: Record<string, unknown>
  /** The user who created it; absent when the host did. */
  createdBy?: string
  /** ms since the epoch */
  createdAt: number
  archived: boolean
  history: HistoryVisibility
}

/** A change to a room's record (`undefined`: unchanged; `null`: cleared). */
export interface RoomPatch {
  title?: string | null
  topic?: string | null
  meta?: Record<string, unknown> | null
  archived?: boolean
}

export interface RoomMember {
  room: string
  userId: string
  role: RoomRole
  /** The room's seq when it joined (with `history: 'joined'` it reads after it). */
  joinedSeq: number
  /** ms since the epoch; the order of members, and who inherits a room its last owner left. */
  joinedAt: number
}

export interface RoomInvite {
  room: string
  userId: string
  /** Who invited (a user id; absent: the host). */
  by?: string
  at: number
}

/** A page: what it holds, and the cursor of the next one (absent on the last). */
export interface RecordPage<T> {
  items: T[]
  cursor?: string
}

/** What removing a member did. */
export interface Removal {
  removed: boolean
  /** The member who became the owner because the last owner left. */
  newOwner?: RoomMember
  /** Nobody is left: the room has no members any more (its record stays). */
  empty: boolean
}

export interface RoomStore {
  /**
   * Creates a room with its first members (one of them its owner, unless the host made it), at
   * once: `exists` (and nothing changed) when the room already has a record.
   */
  createRoom (record: RoomRecord, members: Array<{ userId: string, role: RoomRole }>, at: number): Promise<'created' | 'exists'>
  /** A room's record, or null when it has none (a room joined by name only is public). */
  room (room: string): Promise<RoomRecord | null>
  /** Changes a record; null when it has none. */
  updateRoom (room: string, patch: RoomPatch): Promise<RoomRecord | null>
  /** One member, or null. */
  member (room: string, userId: string): Promise<RoomMember | null>
  /**
   * Makes a user a member (its invite, if any, is used up). Idempotent: a member already keeps
   * its role and join seq (`added: false`).
   */
  addMember (room: string, userId: string, role: RoomRole, joinedSeq: number, at: number): Promise<{ added: boolean, member: RoomMember }>
  /** Changes a member's role; null when not a member. The last owner cannot stop being one (`last-owner`). */
  setRole (room: string, userId: string, role: RoomRole): Promise<RoomMember | 'last-owner' | null>
  /** Removes a member; a room whose last owner left gets the longest-standing moderator, else member, as owner. */
  removeMember (room: string, userId: string): Promise<Removal>
  /** A room's members in join order, a page at a time (at most `limit`). */
  members (room: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>>
  /** A user's memberships, in room-name order, a page at a time (at most `limit`). */
  roomsOf (userId: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>>
  /** Invites a user: `member` when it is one already (nothing done), `already` when invited before. */
  invite (room: string, userId: string, by: string | undefined, at: number): Promise<'invited' | 'member' | 'already'>
  /** One invite, or null. */
  invitation (room: string, userId: string): Promise<RoomInvite | null>
  /** A user's pending invites, newest first. */
  invites (userId: string): Promise<RoomInvite[]>
  /** Drops an invite: whether there was one. */
  decline (room: string, userId: string): Promise<boolean>
}

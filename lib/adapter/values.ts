/**
 * The values that cross the adapter contract (contract.ts): message drafts and what publishing
 * them did, events a store numbered, edits, resumes, room states after a join or leave, read
 * markers and unread counts, presence, and the pages of listings. Types only.
 */
import type { MemberInfo, RoomInfo } from '../model.js'

// Shared with the store contract (both depend on the leaf, not on each other).
export type { Marker, Published } from '../model.js'

/**
 * A `message` frame waiting for its seq and epoch, which the adapter (the one authority for a
 * room's sequence) assigns: the frame is `head + seq + mid + epoch + tail`.
 */
export interface MessageDraft {
  id: string
  head: string
  mid: string
  tail: string
  /** The effectively-once key (user, room, ref), when the sender gave a ref. */
  dedupe?: string
  /**
   * A digest of what the message says (content and meta), given with `dedupe`: a resend must say
   * the same, or the ref was reused for another message.
   */
  digest?: string
}

/**
 * An event of a room that the store numbered (with a store, the store is the room's authority):
 * a message, with its id, or an edit or deletion, with the message's new version.
 */
export interface StoredFrame {
  seq: number
  /** The frame as delivered. */
  text: string
  /** A message's id. */
  id?: string
  /** An edit or deletion: the message's seq, and its frame at the new version (or its tombstone). */
  revises?: { seq: number, text: string, deleted: boolean }
}

/**
 * An edit or deletion, without a store (the adapter numbers it): the change's frame as a draft
 * (`head + seq + mid + epoch + tail`), and the message's new version (or tombstone).
 */
export interface Revision {
  /** The message: where the history holds it. */
  seq: number
  epoch: string
  version: string
  deleted: boolean
  head: string
  mid: string
  tail: string
}

/** A message as the history holds it: its seq, its room's epoch, and its frame at its latest version. */
export interface HeldMessage {
  seq: number
  epoch: string
  text: string
}

/**
 * A room's newest seq (0: none) and, when asked, how many messages after a read marker were sent
 * by others (deleted ones not counted), counted up to a cap: `complete` false when the hot window
 * no longer holds every event after the marker (the count is then of what it holds).
 */
export interface Unread {
  seq: number
  unread: number
  complete: boolean
}

/** A user's presence across the chat. */
export interface UserPresence {
  online: boolean
  /** Open connections, on every process. */
  connections: number
  /** When its last connection closed, ms (absent: online, or not seen within the presence ttl). */
  lastSeen?: number
}

/**
 * A room after a join: its member count (connections), distinct users, newest seq (0 if none) and
 * epoch, and how many connections the joining user now has there (1: its first, anywhere).
 */
export interface RoomState {
  members: number
  users: number
  own: number
  seq: number
  epoch: string
}

/**
 * A room after a leave: its member count (connections), distinct users, and how many connections
 * the leaving user still has there (0: it was its last, anywhere).
 */
export interface LeaveState {
  members: number
  users: number
  own: number
}

export type Resume =
  | { recovered: true, messages: Array<{ seq: number, text: string }> }
  | { recovered: false }

/**
 * Where a listing starts (`cursor`, from the previous page; none for the first) and how much it
 * takes. A cursor the adapter did not write (the plugin checks that a caller's comes from the same
 * listing, but its inside can be forged) rejects with `FST_CHAT_INVALID_PAGE`.
 */
export interface Page {
  cursor?: string
  limit: number
}

/** A page of rooms, sorted by name; `cursor` asks for the next page (absent on the last). */
export interface RoomPage {
  rooms: RoomInfo[]
  cursor?: string
}

/** A page of a room's members, in join order; `cursor` asks for the next page (absent on the last). */
export interface MemberPage {
  members: MemberInfo[]
  cursor?: string
}

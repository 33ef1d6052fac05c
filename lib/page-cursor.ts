/**
 * The cursors of the paged listings (`roomPage`, `memberPage` and their REST routes), as callers
 * see them: opaque, and bound to the listing that gave them (the rooms, or one room's members),
 * around the adapter's own cursor. A cursor that is not one of them, or comes from another
 * listing or room, is `FST_CHAT_INVALID_PAGE`, never a backend's error.
 */
import { FST_CHAT_INVALID_PAGE } from './errors.js'

/** Longest cursor accepted, characters. */
export const MAX_CURSOR = 512

/** Most items of one page. */
export const MAX_PAGE = 1000

export type Listing = 'rooms' | 'members'

const TAG: Record<Listing, string> = { rooms: 'r', members: 'm' }

/** The caller's cursor for the adapter's `inner` one, of `listing` (and `room`, for its members). */
export function wrapCursor (listing: Listing, room: string, inner: string): string {
  return Buffer.from(`${TAG[listing]}\n${room}\n${inner}`).toString('base64url')
}

/** The adapter's cursor inside a caller's, if that was given by this listing (and room). */
export function unwrapCursor (listing: Listing, room: string, cursor: unknown): string {
  if (typeof cursor !== 'string' || cursor === '' || cursor.length > MAX_CURSOR) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
  const text = Buffer.from(cursor, 'base64url').toString()
  const head = `${TAG[listing]}\n${room}\n`
  // Only a cursor this module wrote decodes back to itself (base64url ignores what is not in it).
  if (!text.startsWith(head) || Buffer.from(text).toString('base64url') !== cursor) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
  return text.slice(head.length)
}

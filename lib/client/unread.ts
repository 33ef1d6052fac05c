/**
 * The client's unread counts, per room: the server's count at the last `joined` (up to its seq),
 * plus the messages by others shown since, less those read (`markRead`, or a `read` of this user
 * from another device) or deleted. Above 1,000 it is `"1000+"`, as the server says it.
 */
import type { DeletedFrame, JoinedFrame, MessageFrame } from '../protocol/schemas.js'

export type UnreadCount = number | '1000+'

interface RoomUnread {
  /** The server's count at the join, of the messages up to `baseSeq`. */
  base: UnreadCount
  baseSeq: number
  lastRead: number
  /** Messages by others after the join and the marker: id -> seq. */
  seen: Map<string, number>
}

export class UnreadCounts {
  readonly #rooms = new Map<string, RoomUnread>()

  /** A `joined`: the server's word replaces what was counted (a resume's replay is within its seq). */
  joined (frame: JoinedFrame): void {
    this.#rooms.set(frame.room, { base: frame.unread, baseSeq: frame.seq, lastRead: frame.lastRead, seen: new Map() })
  }

  /** A message shown: counted when another user sent it after the marker. Whether the count changed. */
  message (frame: MessageFrame, me: string | undefined): boolean {
    const r = this.#rooms.get(frame.room)
    if (r === undefined || frame.userId === me || frame.deleted === true) return false
    if (frame.seq <= r.baseSeq || frame.seq <= r.lastRead || r.seen.has(frame.id)) return false
    r.seen.set(frame.id, frame.seq)
    return true
  }

  deleted (frame: DeletedFrame): boolean {
    return this.#rooms.get(frame.room)?.seen.delete(frame.id) === true
  }

  /** The user's marker moved to `seq` (here or on another device). Whether the count changed. */
  read (room: string, seq: number): boolean {
    const r = this.#rooms.get(room)
    if (r === undefined || seq <= r.lastRead) return false
    const before = this.count(room)
    r.lastRead = seq
    // Read past the join's seq: everything the server counted then is read.
    if (seq >= r.baseSeq) r.base = 0
    for (const [id, s] of r.seen) if (s <= seq) r.seen.delete(id)
    return this.count(room) !== before
  }

  /** The room's unread count (0 for a room not joined). */
  count (room: string): UnreadCount {
    const r = this.#rooms.get(room)
    if (r === undefined) return 0
    if (r.base === '1000+') return '1000+'
    const n = r.base + r.seen.size
    return n > 1000 ? '1000+' : n
  }

  /** The room's read marker as last known. */
  lastRead (room: string): number {
    return this.#rooms.get(room)?.lastRead ?? 0
  }

  left (room: string): void {
    this.#rooms.delete(room)
  }
}

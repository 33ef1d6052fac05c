/**
 * The last step of the flow: frames to this process's sockets. A room's frame is framed once and
 * written to every local member (coalesced per turn by the connection), checked for holes and
 * copies on the way in (room-feed.ts), held for a member that is joining until its `joined` and
 * replay are out, and never given twice to a member whose join already covered it.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Resume } from '../adapter/contract.js'
import type { Member } from '../model.js'
import { encode } from '../protocol/codec.js'
import { textFrame, type Frame } from '../protocol/frame.js'
import type { ServerFrame } from '../protocol/schemas.js'
import type { Connection } from '../transport/connection.js'
import type { Membership } from './membership.js'
import { RoomFeeds } from './room-feed.js'

/** Join times are kept from this base, so that one fits a small integer for the first 24 days (see LocalMember). */
const JOINED_BASE = Date.now()

/**
 * A membership of a local connection: the membership keeps the connection for delivery. Its
 * clientId and userId are read off the connection, and its join time kept as an offset that fits a
 * small integer (a time in ms since the epoch would be a boxed number): three fields less for each
 * membership of each idle socket.
 */
export class LocalMember implements Member {
  readonly conn: Connection
  readonly #joined: number
  /** The user's display name (the token's `name` claim), when it has one. */
  readonly name: string | undefined
  /**
   * Live frames held while the member is joining (until `joined` and any replay are out), so that
   * nothing overtakes them and the switch from replay to live has no gap and no duplicate.
   */
  buffer: Array<{ seq: number | undefined, frame: Frame }> | undefined = []
  /**
   * After a join, the last seq the member already has (from the join's state or its replay). Live
   * frames come over another connection than the one that read that state (pub/sub), so some
   * may still arrive after it: those at or below it are copies. Cleared by the first newer one.
   */
  floor: { seq: number, epoch: string } | undefined = undefined
  /** The last seq its latest join gave it (the room's or its replay's): live from there on. */
  from = 0

  constructor (conn: Connection, joinedAt: number, name: string | undefined) {
    this.conn = conn
    this.#joined = joinedAt - JOINED_BASE
    this.name = name
  }

  get clientId (): string {
    return this.conn.id
  }

  get userId (): string {
    return this.conn.userId
  }

  /** When it joined, in ms since the epoch. */
  get joinedAt (): number {
    return this.#joined + JOINED_BASE
  }
}

export class Delivery {
  readonly #membership: Membership<LocalMember>
  readonly #feeds: RoomFeeds
  /** Members whose leave is on its way, by room (see holdWhileLeaving). */
  readonly #leaving = new Map<string, Set<LocalMember>>()
  /** Frames written to sockets (a broadcast to 10 counts 10). */
  sent = 0

  constructor (membership: Membership<LocalMember>, since: (room: string, seq: number, epoch: string) => Promise<Resume>, log: FastifyBaseLogger) {
    this.#membership = membership
    this.#feeds = new RoomFeeds({
      write: (room, text, except, seq, epoch) => this.#write(room, text, except, seq, epoch),
      gap: (room, before) => this.#gap(room, before),
      since,
      log
    })
  }

  get feeds (): RoomFeeds {
    return this.#feeds
  }

  /** Sends one frame to one connection. */
  send (conn: Connection, frame: ServerFrame): void {
    this.sendText(conn, encode(frame))
  }

  /** Sends one encoded frame to one connection. */
  sendText (conn: Connection, text: string): void {
    if (conn.send(text)) this.sent++
  }

  /** A room's frame from the adapter: through the room's feed, to every local member but `except`. */
  room (room: string, text: string, except?: string, seq?: number, epoch?: string): void {
    this.#feeds.deliver(room, text, except, seq, epoch)
  }

  /**
   * The room's live frames skip a hole (or start a new epoch) after `before`: what a member had
   * live counts from there, so a later replay to it still sends what the hole kept from it.
   */
  #gap (room: string, before: number): void {
    const members = this.#membership.membersOf(room)
    if (members === undefined) return
    for (const member of members.values()) member.from = before
  }

  /**
   * Holds a member's frames of `room` while its leave is on its way: if the leave fails, it is
   * still in the room and gets them (`resumeAfterLeave`), without a gap. Whether this started the
   * holding (a join of it may be holding already).
   */
  holdWhileLeaving (room: string, member: LocalMember): boolean {
    let set = this.#leaving.get(room)
    if (set === undefined) this.#leaving.set(room, set = new Set())
    set.add(member)
    if (member.buffer !== undefined) return false
    member.buffer = []
    return true
  }

  /** The leave is done (`failed` false: what was held is dropped) or failed (it is sent). */
  leaveSettled (room: string, member: LocalMember, held: boolean, failed: boolean): void {
    const set = this.#leaving.get(room)
    set?.delete(member)
    if (set?.size === 0) this.#leaving.delete(room)
    if (!held) return
    if (failed) this.release(member, 0, undefined)
    else member.buffer = undefined
  }

  #write (room: string, text: string, except: string | undefined, seq: number | undefined, epoch: string | undefined): void {
    const members = this.#membership.membersOf(room)
    const leaving = this.#leaving.size === 0 ? undefined : this.#leaving.get(room)
    if (members === undefined && leaving === undefined) return
    // Framed once for everyone: each member gets the same bytes, coalesced per turn.
    const frame = textFrame(text)
    let sent = 0
    for (const member of leaving ?? []) {
      if (except === undefined || member.conn.id !== except) member.buffer?.push({ seq, frame })
    }
    for (const member of members?.values() ?? []) {
      if (except !== undefined && member.conn.id === except) continue
      const floor = member.floor
      if (floor !== undefined && seq !== undefined) {
        if (epoch === floor.epoch && seq <= floor.seq) continue
        member.floor = undefined
      }
      if (member.buffer !== undefined) member.buffer.push({ seq, frame })
      else if (member.conn.sendFrame(frame)) sent++
    }
    this.sent += sent
  }

  /**
   * Starts holding a member's live frames for another join of a room it is in, with `since`,
   * and says which messages its socket already had live: those after its last join's seq, up to
   * its floor or, past it, the room feed's position. Its replay must not send those again.
   */
  hold (member: LocalMember, room: string): { after: number, upTo: number, epoch: string } | undefined {
    const had = member.floor ?? this.#feeds.position(room)
    member.buffer = []
    return had === undefined ? undefined : { after: member.from, upTo: had.seq, epoch: had.epoch }
  }

  /**
   * Ends a join's buffering: sends what came live after seq `after` of `epoch` (and every presence
   * frame), and keeps `after` as the member's floor for what is still on its way, unless the room's
   * feed has delivered that far already (it drops any copy at or below its position itself).
   */
  release (member: LocalMember, after: number, epoch: string | undefined, room?: string): void {
    const buffer = member.buffer
    if (buffer === undefined) return
    member.buffer = undefined
    if (epoch !== undefined) member.from = after
    let floor = after
    for (const b of buffer) {
      if (b.seq !== undefined && b.seq <= after) continue
      if (member.conn.sendFrame(b.frame)) this.sent++
      if (b.seq !== undefined && b.seq > floor) floor = b.seq
    }
    const at = room === undefined ? undefined : this.#feeds.position(room)
    member.floor = epoch === undefined || (at !== undefined && at.epoch === epoch && at.seq >= floor) ? undefined : { seq: floor, epoch }
  }
}

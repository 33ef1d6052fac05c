/**
 * Joining and leaving rooms, with what each tells: `joined` (and a resume's replay) to the
 * member, `left` to it, `userJoined`/`userLeft` to the others, within the presence limit. The
 * room-level half of the core; the hub runs it for connections, REST and `app.chat` alike.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatAdapter, LeaveState, Resume, RoomState } from '../adapter/contract.js'
import type { LeaveReason } from '../model.js'
import type { ResolvedOptions } from '../options.js'
import type { JoinOutcome } from '../outcomes.js'
import type { JoinedFrame, LeftFrame, Ref, ServerFrame, UserJoinedFrame, UserLeftFrame } from '../protocol/schemas.js'
import type { Connection } from '../transport/connection.js'
import { LocalMember, type Delivery } from './delivery.js'
import type { ChatEvents } from './events.js'
import type { Membership } from './membership.js'
import { isDirect } from './direct.js'
import { displayName } from './message.js'
import type { Typing } from './typing.js'
import { PresenceBatcher } from './presence-batch.js'
import type { ReadMarkers, UnreadCount } from './reads.js'

/** What rooms need of the rest of the core. */
export interface RoomsCore {
  adapter: () => ChatAdapter
  /** The events after `seq` of `epoch` (the hot window, else the store). */
  since: (room: string, seq: number, epoch: string) => Promise<Resume>
  /** A join's state as the room's authority has it (the store's seq and epoch, when there is one). */
  joinState: (room: string, state: RoomState) => Promise<RoomState>
  events: ChatEvents
  log: FastifyBaseLogger
  /** A direct conversation's participants (null: none). */
  participants: (room: string) => Promise<[string, string] | null>
  typing: () => Typing
  reads: () => ReadMarkers
}

export class Rooms {
  readonly #opts: ResolvedOptions
  readonly #membership: Membership<LocalMember>
  readonly #delivery: Delivery
  readonly #adapter: () => ChatAdapter
  readonly #core: RoomsCore
  readonly #log: FastifyBaseLogger
  /** userJoined and userLeft, batched per room while they come thick and fast. */
  readonly #presence: PresenceBatcher

  constructor (opts: ResolvedOptions, membership: Membership<LocalMember>, delivery: Delivery, core: RoomsCore) {
    this.#opts = opts
    this.#presence = new PresenceBatcher(opts.presenceBatch, (room, text, except) => this.#announce(room, text, except))
    this.#membership = membership
    this.#delivery = delivery
    this.#adapter = core.adapter
    this.#core = core
    this.#log = core.log
  }

  /** Joins `conn` to `room`: `joined` to it, `userJoined` to the others. */
  async join (conn: Connection, room: string, ref?: Ref, since?: { seq: number, epoch: string }): Promise<JoinOutcome> {
    let member = this.#membership.membersOf(room)?.get(conn.id)
    const already = member !== undefined
    let had: { after: number, upTo: number, epoch: string } | undefined
    if (member === undefined) {
      // A direct conversation: its two participants only (canJoin is not asked, admins are not let
      // in), and first, so that to anyone else it looks the same whether it exists or not.
      if (isDirect(room)) {
        const pair = await this.#core.participants(room)
        if (pair === null || !pair.includes(conn.userId)) return 'forbidden'
      }
      if (conn.rooms.length >= this.#opts.maxRoomsPerConnection) return 'too-many-rooms'
      const here = this.#membership.count(room)
      if (here === 0 && this.#membership.roomCount >= this.#opts.maxRoomsPerProcess) return 'server-full'
      if (here >= this.#opts.maxMembersPerRoom) return 'room-full'
      if (conn.restrictions?.find('ban', room) !== undefined) return 'banned'
      if (!isDirect(room)) {
        const canJoin = this.#opts.canJoin
        if (canJoin !== undefined && await canJoin(conn.user, room) !== true) return 'forbidden'
      }
      // Joined meanwhile (the rule was async)? Then it is a member already.
      if (this.#membership.has(room, conn.id)) return await this.join(conn, room, ref, since)
      member = new LocalMember(conn, Date.now(), displayName(conn.user))
      this.#membership.add(room, member)
    } else if (since !== undefined) {
      // Its socket already had the live frames since its first join (the default room's, made
      // at connect, before the client's own resume of it): the replay skips them.
      had = this.#delivery.hold(member, room)
    }
    let state: RoomState
    let resume: Resume | undefined
    let read: { lastRead: number, unread: UnreadCount }
    try {
      // Idempotent: for a member already in, it only reads the room's state.
      state = await this.#core.joinState(room, await this.#adapter().join(room, member))
      ;[read, resume] = await Promise.all([
        this.#core.reads().atJoin(conn.userId, room, state.seq),
        since === undefined ? undefined : this.#core.since(room, since.seq, since.epoch)
      ])
    } catch (err) {
      // Nothing was done: the caller hears why (UNAVAILABLE) and may retry.
      if (!already) this.#unregister(room, conn.id)
      else this.#delivery.release(member, 0, undefined)
      throw err
    }
    this.#delivery.feeds.started(room, state.seq, state.epoch)
    if (!already) this.#core.events.emit('joined', { room, clientId: conn.id, userId: conn.userId, members: state.members, user: conn.user })
    // Closed meanwhile: its close handler already took it out of the room and said so.
    if (conn.closed) return already ? 'already' : 'joined'
    const joined: JoinedFrame = { type: 'joined', room, members: state.members, users: state.users, seq: state.seq, epoch: state.epoch, lastRead: read.lastRead, unread: read.unread }
    const typing = this.#core.typing().of(room)
    if (typing.length > 0) joined.typing = typing
    if (resume !== undefined) joined.recovered = resume.recovered
    this.#delivery.send(conn, withRef(joined, ref))
    let last = state.seq
    if (resume?.recovered === true) {
      const seen = had !== undefined && had.epoch === state.epoch ? had : undefined
      // What it had live is its own already: nothing at or below it is sent again.
      if (seen !== undefined && seen.upTo > last) last = seen.upTo
      for (const m of resume.messages) {
        if (seen !== undefined && m.seq > seen.after && m.seq <= seen.upTo) continue
        this.#delivery.sendText(conn, m.text)
        if (m.seq > last) last = m.seq
      }
    }
    this.#delivery.release(member, last, state.epoch, room)
    if (already) return 'already'
    if (this.#opts.presenceBy === 'connection') {
      if (state.members <= this.#opts.presenceLimit) this.#presence.add(room, { type: 'userJoined', room, clientId: conn.id, userId: conn.userId }, conn.id)
    } else if (state.own === 1 && state.users <= this.#opts.presenceLimit) {
      // The user's first connection in the room, anywhere: its other tabs were not here.
      this.#presence.add(room, withName<UserJoinedFrame>({ type: 'userJoined', room, clientId: conn.id, userId: conn.userId, connections: state.own }, member.name), conn.id)
    }
    conn.debug({ room, seq: state.seq, recovered: resume?.recovered }, 'joined')
    return 'joined'
  }

  /**
   * Takes a membership out; a room left without local members stops its feed (unless `keepFeed`:
   * a leave that may fail keeps counting the room's seqs until it is done).
   */
  #unregister (room: string, clientId: string, keepFeed = false): LocalMember | undefined {
    const member = this.#membership.remove(room, clientId)
    if (member === undefined) return undefined
    // Its user's last connection in the room here: it is not typing there any more.
    if (this.#membership.userCount(room, member.userId) === 0) this.#core.typing().stop(room, member.userId)
    if (!keepFeed) this.#emptied(room)
    return member
  }

  #emptied (room: string): void {
    if (this.#membership.count(room) > 0) return
    this.#delivery.feeds.stopped(room)
    this.#core.typing().forget(room)
  }

  /** Takes `conn` out of `room`: `left` to it (unless it is gone), `userLeft` to the others. */
  async leave (conn: Connection, room: string, reason: LeaveReason, ref?: Ref): Promise<boolean> {
    // A connection still open stays a member if the backend cannot take the leave: what the room
    // sends meanwhile is held for it (else it would miss it, unknowing, and count on after a gap).
    const undoable = reason === 'left' || reason === 'removed'
    const member = this.#unregister(room, conn.id, undoable)
    if (member === undefined) return false
    const held = undoable && this.#delivery.holdWhileLeaving(room, member)
    let state: LeaveState
    try {
      state = await this.#adapter().leave(room, member)
    } catch (err) {
      // Nothing was done: it stays a member (unless it closed, or joined again, meanwhile) and may retry.
      const back = undoable && !conn.closed && !this.#membership.has(room, conn.id)
      if (back) this.#membership.add(room, member)
      this.#delivery.leaveSettled(room, member, held, back)
      if (!back) this.#emptied(room)
      throw err
    }
    if (undoable) {
      this.#delivery.leaveSettled(room, member, held, false)
      this.#emptied(room)
    }
    if (reason === 'left' || reason === 'removed' || reason === 'banned') {
      const left: LeftFrame = { type: 'left', room, members: state.members }
      if (reason !== 'left') left.reason = reason
      this.#delivery.send(conn, withRef(left, ref))
    }
    this.#userLeft(room, member, state, reason)
    conn.debug({ room, reason }, 'left')
    this.#core.events.emit('left', { room, clientId: conn.id, userId: conn.userId, reason, user: conn.user })
    return true
  }

  /**
   * Publishes a presence frame. The membership change it reports is done, so a failure to tell the
   * others is logged, not reported to the member.
   */
  #announce (room: string, frame: string, except?: string): void {
    this.#adapter().publish(room, frame, except)
      .catch((err: unknown) => this.#log.warn({ err, room }, 'could not announce a presence change'))
  }

  /** Presence changes still waiting for their window go out now (the process is closing). */
  close (): void {
    this.#presence.close()
  }

  /** A member removed by the adapter (its process died): tell the room. */
  lost (room: string, member: { clientId: string, userId: string, name?: string }, state: LeaveState, reason: LeaveReason): void {
    this.#core.events.emit('left', { room, clientId: member.clientId, userId: member.userId, reason })
    if (state.members > 0) this.#userLeft(room, member, state, reason)
  }

  /**
   * `userLeft` to the room, within the presence limit (counted with the leaver, as a join is
   * counted with the joiner): for every connection, or for a user's last one.
   */
  #userLeft (room: string, member: { clientId: string, userId: string, name?: string }, state: LeaveState, reason: LeaveReason): void {
    const { clientId, userId } = member
    if (this.#opts.presenceBy === 'connection') {
      if (state.members + 1 <= this.#opts.presenceLimit) this.#presence.add(room, { type: 'userLeft', room, clientId, userId, reason })
    } else if (state.own === 0 && state.users + 1 <= this.#opts.presenceLimit) {
      this.#presence.add(room, withName<UserLeftFrame>({ type: 'userLeft', room, clientId, userId, connections: 0, reason }, member.name))
    }
  }
}

function withName<T extends { name?: string }> (frame: T, name: string | undefined): T {
  if (name !== undefined) frame.name = name
  return frame
}

function withRef<T extends ServerFrame & { ref?: Ref }> (frame: T, ref: Ref | undefined): T {
  if (ref !== undefined) frame.ref = ref
  return frame
}

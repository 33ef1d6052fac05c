/**
 * The client's view of its rooms: the last seq and epoch seen in each (what a reconnect resumes
 * from), and the second line of defence against holes: a message whose seq skips ahead makes the
 * client ask the server for what it missed (`join` with `since`) and hold what comes meanwhile,
 * and a message it already showed is never shown again.
 */
import type { DeletedFrame, EditedFrame, JoinedFrame, MessageFrame } from '../protocol/schemas.js'
import type { Missed } from './types.js'

/** What a room numbers: messages, and the edits and deletions of them (each has its own seq). */
export type RoomEvent = MessageFrame | EditedFrame | DeletedFrame

interface RoomView {
  seq: number
  epoch: string
  /**
   * While a `join` with `since` is on its way (the resume after a reconnect, or the client's
   * own request for a hole), its ref and the messages that came meanwhile.
   */
  resync?: { ref: string, kind: 'resume' | 'hole', held: RoomEvent[], tries?: number }
  /**
   * After a recovered resync: what came meanwhile, shown once the replay has filled in what comes
   * before it (a connection already in the room gets replayed only what did not reach it live).
   */
  pending?: RoomEvent[]
  /**
   * After a reconnect, the room the server joins the new connection to itself (its default room):
   * its resume waits for that join, which tells whether anything was missed at all.
   */
  awaitingJoin?: true
}

/** How often a hole is asked for while the server cannot answer, before what came is shown as is. */
const MAX_HOLE_TRIES = 8

/** A `join` with `since` to send: the resume of a room, or the request for a hole. */
export interface Resync { room: string, ref: string, since: { seq: number, epoch: string } }

/** A resume of `room` from the last seq seen; what comes meanwhile waits for its answer. */
function resumeOf (room: string, view: RoomView, newRef: () => string): Resync {
  const ref = newRef()
  view.resync = { ref, kind: 'resume', held: [] }
  return { room, ref, since: { seq: view.seq, epoch: view.epoch } }
}

export class RoomTracker {
  readonly #rooms = new Map<string, RoomView>()

  get names (): string[] {
    return [...this.#rooms.keys()]
  }

  /**
   * Where to resume each room from after a reconnect, with the ref of each resume (a pending
   * resync is moot then). Messages that come before the answer wait for it. The server's default
   * room (`defaultRoom`, from `welcome`) is not resumed yet: the server is joining the connection
   * to it, and its `joined` says whether anything was missed (see `joined`).
   */
  resumePoints (newRef: () => string, defaultRoom?: string): Resync[] {
    const out = []
    for (const [room, view] of this.#rooms) {
      if (room === defaultRoom) {
        view.resync = undefined
        view.awaitingJoin = true
        continue
      }
      view.awaitingJoin = undefined
      out.push(resumeOf(room, view, newRef))
    }
    return out
  }

  /**
   * The server could not join the new connection to its default room: that room is resumed with
   * `since` as the others are (the server joins it then).
   */
  defaultJoinFailed (newRef: () => string): Resync[] {
    const out = []
    for (const [room, view] of this.#rooms) {
      if (view.awaitingJoin === undefined) continue
      view.awaitingJoin = undefined
      out.push(resumeOf(room, view, newRef))
    }
    return out
  }

  /**
   * A message (or an edit or deletion) arrived: the events to show now (none, it, or none while a hole is being filled),
   * and the resync request to send, if it opened a hole.
   */
  message (frame: RoomEvent, newRef: () => string): { show: RoomEvent[], resync?: Resync } {
    const view = this.#rooms.get(frame.room)
    if (view === undefined) return { show: [frame] }
    if (view.resync !== undefined) {
      view.resync.held.push(frame)
      return { show: [] }
    }
    if (frame.epoch !== view.epoch) {
      view.epoch = frame.epoch
      view.seq = frame.seq
      return { show: [frame] }
    }
    if (frame.seq <= view.seq) return { show: [] }
    if (frame.seq === view.seq + 1) {
      view.seq = frame.seq
      return { show: [frame, ...this.#drain(view)] }
    }
    if (view.pending?.some((m) => m.seq === frame.seq) === true) return { show: [] }
    const ref = newRef()
    view.resync = { ref, kind: 'hole', held: [...view.pending ?? [], frame] }
    view.pending = undefined
    return { show: [], resync: { room: frame.room, ref, since: { seq: view.seq, epoch: view.epoch } } }
  }

  /** What was pending and now comes next: shown, in order. */
  #drain (view: RoomView): RoomEvent[] {
    const pending = view.pending
    if (pending === undefined) return []
    const show = []
    for (const m of pending) {
      if (m.epoch !== view.epoch || m.seq <= view.seq) continue
      if (m.seq !== view.seq + 1) break
      view.seq = m.seq
      show.push(m)
    }
    const rest = pending.filter((m) => m.epoch === view.epoch && m.seq > view.seq)
    view.pending = rest.length === 0 ? undefined : rest
    return show
  }

  /**
   * A `joined`: a first join starts the count; the answer to a resume or a resync releases what
   * it held. `emit` says whether the application hears of it (not of a recovered hole).
   */
  joined (frame: JoinedFrame, newRef: () => string): { show: RoomEvent[], emit: boolean, recovered?: true, resume?: Resync, missed?: Missed } {
    const view = this.#rooms.get(frame.room)
    if (view?.awaitingJoin !== undefined && frame.ref === undefined) {
      view.awaitingJoin = undefined
      // The server's join of the default room after a reconnect: at the seq last seen, nothing was
      // missed (what comes next comes live, as after any join); else the room is resumed from it,
      // and the application hears of the resume's join only (one joined per room and reconnect,
      // saying whether anything was lost).
      if (frame.epoch === view.epoch && frame.seq === view.seq) return { show: [], emit: true, recovered: true }
      return { show: [], emit: false, resume: resumeOf(frame.room, view, newRef) }
    }
    if (view?.resync !== undefined && frame.ref === view.resync.ref) {
      const { held, kind } = view.resync
      const from = { seq: view.seq, epoch: view.epoch }
      view.resync = undefined
      // Recovered: the replay that follows brings what did not reach this connection live; what
      // it held did (a connection already in the room is not sent it again), so it is kept and
      // shown in its place once the replay has come.
      if (frame.recovered === true) {
        view.pending = [...held].sort((a, b) => a.seq - b.seq)
        return { show: this.#drain(view), emit: kind === 'resume' }
      }
      // Not recoverable: show what came, then count on from the join; the application is told
      // (it reloads the room's history).
      return { show: this.#flush(view, held, frame), emit: true, missed: { room: frame.room, from, seq: frame.seq, epoch: frame.epoch } }
    }
    // The server's own join of a new connection's default room comes before the answer to the
    // resume: the count stays where it was until that answer.
    if (view?.resync !== undefined) return { show: [], emit: true }
    // A join of a room already seen in this epoch (the server's, of a direct conversation, say)
    // never moves the count back: seqs are not reused within an epoch, and a server whose backend
    // lagged may say less than this client has already had.
    if (view !== undefined && frame.recovered === undefined && frame.epoch === view.epoch && frame.seq < view.seq) return { show: [], emit: true }
    // A resume that could not recover starts the room over from this join.
    if (view === undefined || frame.recovered !== true) this.#rooms.set(frame.room, { seq: frame.seq, epoch: frame.epoch })
    return { show: [], emit: true }
  }

  /**
   * The server could not answer a resume or resync now (its backend is away): the same request
   * again under a new ref, still holding what comes meanwhile; undefined once a hole has been
   * asked for too often (then `resyncFailed`).
   */
  retryResync (ref: string, newRef: () => string): (Resync & { tries: number }) | undefined {
    for (const [room, view] of this.#rooms) {
      if (view.resync?.ref !== ref) continue
      const tries = (view.resync.tries ?? 0) + 1
      if (view.resync.kind === 'hole' && tries > MAX_HOLE_TRIES) return undefined
      view.resync.ref = newRef()
      view.resync.tries = tries
      return { room, ref: view.resync.ref, since: { seq: view.seq, epoch: view.epoch }, tries }
    }
    return undefined
  }

  /**
   * The resume or resync request was refused. A resume refused (banned, forbidden since) means the
   * connection is not in the room: it is dropped from the rooms. A hole that cannot be filled:
   * show what was held and go on.
   */
  resyncFailed (ref: string): RoomEvent[] {
    for (const [room, view] of this.#rooms) {
      if (view.resync?.ref !== ref) continue
      const { held, kind } = view.resync
      view.resync = undefined
      if (kind === 'resume') {
        this.#rooms.delete(room)
        return []
      }
      return this.#flush(view, held, undefined)
    }
    return []
  }

  /**
   * Whether requests for `room` may go: not while it is being resumed after a reconnect (the
   * server does not count this connection in it until then).
   */
  ready (room: string): boolean {
    const view = this.#rooms.get(room)
    return view === undefined || (view.awaitingJoin === undefined && view.resync?.kind !== 'resume')
  }

  #flush (view: RoomView, held: RoomEvent[], joined: JoinedFrame | undefined): RoomEvent[] {
    const show = held.filter((m) => m.epoch !== view.epoch || m.seq > view.seq)
    const last = show.at(-1)
    if (last !== undefined) { view.seq = last.seq; view.epoch = last.epoch }
    if (joined !== undefined && (joined.epoch !== view.epoch || joined.seq > view.seq)) { view.seq = joined.seq; view.epoch = joined.epoch }
    return show
  }

  left (room: string): void {
    this.#rooms.delete(room)
  }

  /** The last seq seen in a room (0: none). */
  seq (room: string): number {
    return this.#rooms.get(room)?.seq ?? 0
  }

  isResync (ref: string): boolean {
    for (const view of this.#rooms.values()) if (view.resync?.ref === ref) return true
    return false
  }
}

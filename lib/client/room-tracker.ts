/**
 * The client's view of its rooms: the last seq and epoch seen in each (what a reconnect resumes
 * from), and the second line of defence against holes: a message whose seq skips ahead makes the
 * client ask the server for what it missed (`join` with `since`) and hold what comes meanwhile,
 * and a message it already showed is never shown again.
 */
import type { DeletedFrame, EditedFrame, JoinedFrame, MessageFrame } from '../protocol/schemas.js'

/** What a room numbers: messages, and the edits and deletions of them (each has its own seq). */
export type RoomEvent = MessageFrame | EditedFrame | DeletedFrame

interface RoomView {
  seq: number
  epoch: string
  /**
   * While a `join` with `since` is on its way (the resume after a reconnect, or the client's
   * own request for a hole), its ref and the messages that came meanwhile.
   */
  resync?: { ref: string, kind: 'resume' | 'hole', held: RoomEvent[] }
}

export class RoomTracker {
  readonly #rooms = new Map<string, RoomView>()

  get names (): string[] {
    return [...this.#rooms.keys()]
  }

  /**
   * Where to resume each room from after a reconnect, with the ref of each resume (a pending
   * resync is moot then). Messages that come before the answer wait for it.
   */
  resumePoints (newRef: () => string): Array<{ room: string, ref: string, seq: number, epoch: string }> {
    const out = []
    for (const [room, view] of this.#rooms) {
      const ref = newRef()
      view.resync = { ref, kind: 'resume', held: [] }
      out.push({ room, ref, seq: view.seq, epoch: view.epoch })
    }
    return out
  }

  /**
   * A message (or an edit or deletion) arrived: the events to show now (none, it, or none while a hole is being filled),
   * and the resync request to send, if it opened a hole.
   */
  message (frame: RoomEvent, newRef: () => string): { show: RoomEvent[], resync?: { room: string, ref: string, since: { seq: number, epoch: string } } } {
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
      return { show: [frame] }
    }
    const ref = newRef()
    view.resync = { ref, kind: 'hole', held: [frame] }
    return { show: [], resync: { room: frame.room, ref, since: { seq: view.seq, epoch: view.epoch } } }
  }

  /**
   * A `joined`: a first join starts the count; the answer to a resume or a resync releases what
   * it held. `emit` says whether the application hears of it (not of a recovered hole).
   */
  joined (frame: JoinedFrame): { show: RoomEvent[], emit: boolean } {
    const view = this.#rooms.get(frame.room)
    if (view?.resync !== undefined && frame.ref === view.resync.ref) {
      const { held, kind } = view.resync
      view.resync = undefined
      // Recovered: the replay that follows brings every held message again, in order.
      if (frame.recovered === true) return { show: [], emit: kind === 'resume' }
      // Not recoverable: show what came, then count on from the join.
      return { show: this.#flush(view, held, frame), emit: true }
    }
    // The server's own join of a new connection's default room comes before the answer to the
    // resume: the count stays where it was until that answer.
    if (view?.resync !== undefined) return { show: [], emit: true }
    // A resume that could not recover starts the room over from this join.
    if (view === undefined || frame.recovered !== true) this.#rooms.set(frame.room, { seq: frame.seq, epoch: frame.epoch })
    return { show: [], emit: true }
  }

  /** The resume or resync request failed: show what was held and go on. */
  resyncFailed (ref: string): RoomEvent[] {
    for (const view of this.#rooms.values()) {
      if (view.resync?.ref !== ref) continue
      const held = view.resync.held
      view.resync = undefined
      return this.#flush(view, held, undefined)
    }
    return []
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

/**
 * A room's presence changes (`userJoined`, `userLeft`), batched per process: at most one presence
 * frame per room per `window` ms. A change in a room that has had no presence frame for a window
 * goes out at once; the changes that come before the window since the last frame ends go out
 * together when it ends, as one `presenceDiff` frame listing them in order (one change: its own
 * frame). So a storm of joins (every client of a deploy coming back) costs each member one frame a
 * window, not one per joiner, and a join in a quiet room still arrives at once.
 */
import { encode } from '../protocol/codec.js'
import type { PresenceChange, UserJoinedFrame, UserLeftFrame } from '../protocol/schemas.js'

export type PublishPresence = (room: string, text: string, except?: string) => void

/** How a window's end is scheduled (tests pass their own). */
export type Schedule = (fn: () => void, ms: number) => { unref?: () => unknown }

const onTimer: Schedule = (fn, ms) => setTimeout(fn, ms).unref()

interface Room {
  /** When its last presence frame went out, ms. */
  sent: number
  changes: Array<{ frame: UserJoinedFrame | UserLeftFrame, except?: string }>
  timer?: ReturnType<Schedule>
}

export class PresenceBatcher {
  readonly #window: number
  readonly #publish: PublishPresence
  readonly #schedule: Schedule
  readonly #now: () => number
  readonly #rooms = new Map<string, Room>()

  /** @param window at most one frame per room per this many ms (0: every change at once) */
  constructor (window: number, publish: PublishPresence, schedule: Schedule = onTimer, now: () => number = Date.now) {
    this.#window = window
    this.#publish = publish
    this.#schedule = schedule
    this.#now = now
  }

  /** A change to tell the room; `except`: the connection it is about, which does not get it alone. */
  add (room: string, frame: UserJoinedFrame | UserLeftFrame, except?: string): void {
    if (this.#window === 0) {
      this.#publish(room, encode(frame), except)
      return
    }
    const now = this.#now()
    let r = this.#rooms.get(room)
    if (r === undefined || (r.timer === undefined && now - r.sent >= this.#window)) {
      this.#publish(room, encode(frame), except)
      if (r === undefined) this.#rooms.set(room, r = { sent: now, changes: [] })
      r.sent = now
      // Forgotten once a window has passed without a change.
      r.timer = this.#schedule(() => this.#flush(room), this.#window)
      return
    }
    r.changes.push(except === undefined ? { frame } : { frame, except })
    r.timer ??= this.#schedule(() => this.#flush(room), Math.max(0, r.sent + this.#window - now))
  }

  #flush (room: string): void {
    const r = this.#rooms.get(room)
    if (r === undefined) return
    r.timer = undefined
    const { changes } = r
    if (changes.length === 0) {
      this.#rooms.delete(room)
      return
    }
    r.changes = []
    r.sent = this.#now()
    if (changes.length === 1) {
      this.#publish(room, encode(changes[0].frame), changes[0].except)
    } else {
      // Each change as its own frame says it, less the room (the diff's): the connection a change
      // is about may find itself in the list.
      const list = changes.map(({ frame }) => { const { room: _, ...change } = frame; return change as PresenceChange })
      this.#publish(room, encode({ type: 'presenceDiff', room, changes: list }))
    }
    r.timer = this.#schedule(() => this.#flush(room), this.#window)
  }

  /** Sends what waits at once (a shutdown), and forgets every room. */
  close (): void {
    for (const [room, r] of [...this.#rooms]) {
      clearTimeout(r.timer as NodeJS.Timeout)
      this.#flush(room)
      clearTimeout(this.#rooms.get(room)?.timer as NodeJS.Timeout)
    }
    this.#rooms.clear()
  }
}

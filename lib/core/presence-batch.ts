/**
 * A room's presence changes (`userJoined`, `userLeft`), batched per process: the first change in
 * a quiet room goes out at once; the changes that follow within FIRST_WINDOW_MS go out together at
 * the end of that window, as one `presenceDiff` frame listing them in order; while changes keep
 * coming, each window is twice the last, up to `max` ms. A window that ends with nothing to send
 * makes the room quiet again. So a storm of joins (every client of a deploy coming back) costs each
 * member a handful of frames, not one per joiner, and a join in a quiet room still arrives at once.
 */
import { encode } from '../protocol/codec.js'
import type { PresenceChange, UserJoinedFrame, UserLeftFrame } from '../protocol/schemas.js'

/** The first window after a change sent at once, ms. */
export const FIRST_WINDOW_MS = 50

interface Batch {
  changes: Array<{ frame: UserJoinedFrame | UserLeftFrame, except?: string }>
  window: number
  timer: ReturnType<Schedule>
}

export type PublishPresence = (room: string, text: string, except?: string) => void

/** How a window's end is scheduled (tests pass their own). */
export type Schedule = (fn: () => void, ms: number) => { unref?: () => unknown }

const onTimer: Schedule = (fn, ms) => setTimeout(fn, ms).unref()

export class PresenceBatcher {
  readonly #max: number
  readonly #publish: PublishPresence
  readonly #rooms = new Map<string, Batch>()
  readonly #schedule: Schedule

  /** @param max the longest window, ms (0: every change at once) */
  constructor (max: number, publish: PublishPresence, schedule: Schedule = onTimer) {
    this.#max = max
    this.#publish = publish
    this.#schedule = schedule
  }

  /** A change to tell the room; `except`: the connection it is about, which does not get it alone. */
  add (room: string, frame: UserJoinedFrame | UserLeftFrame, except?: string): void {
    const batch = this.#rooms.get(room)
    if (batch !== undefined) {
      batch.changes.push(except === undefined ? { frame } : { frame, except })
      return
    }
    this.#publish(room, encode(frame), except)
    if (this.#max === 0) return
    const window = Math.min(FIRST_WINDOW_MS, this.#max)
    this.#rooms.set(room, { changes: [], window, timer: this.#after(room, window) })
  }

  #after (room: string, ms: number): ReturnType<Schedule> {
    return this.#schedule(() => this.#flush(room), ms)
  }

  #flush (room: string): void {
    const batch = this.#rooms.get(room)
    if (batch === undefined) return
    const { changes } = batch
    if (changes.length === 0) {
      this.#rooms.delete(room)
      return
    }
    batch.changes = []
    if (changes.length === 1) {
      this.#publish(room, encode(changes[0].frame), changes[0].except)
    } else {
      // Each change as its own frame says it, less the room (the diff's): the connection a change
      // is about may find itself in the list.
      const list = changes.map(({ frame }) => { const { room: _, ...change } = frame; return change as PresenceChange })
      this.#publish(room, encode({ type: 'presenceDiff', room, changes: list }))
    }
    batch.window = Math.min(batch.window * 2, this.#max)
    batch.timer = this.#after(room, batch.window)
  }

  /** Sends what waits at once (a shutdown), and forgets every room. */
  close (): void {
    const rooms = [...this.#rooms.keys()]
    for (const room of rooms) {
      clearTimeout(this.#rooms.get(room)?.timer as NodeJS.Timeout)
      this.#flush(room)
      clearTimeout(this.#rooms.get(room)?.timer as NodeJS.Timeout)
    }
    this.#rooms.clear()
  }
}

/**
 * One connection's work, one task at a time and in order: a request's registry calls may be
 * async (Redis), yet `joined` must go out before the room's messages, and replies in the order of
 * the requests. A task that throws is a bug: the rest are dropped and `taskFailed` is told.
 *
 * A base class rather than an object of its own, so that a connection costs no extra object or
 * closure for it (thousands of idle connections are the common case).
 */
import { MAX_PENDING_FRAMES } from '../constants.js'

/** One unit of a connection's work: handling a frame, or a host's join/leave on it. */
export type Task = () => Promise<void> | void

export abstract class SerialTasks {
  // Tasks waiting while an earlier one is in flight; made when first needed.
  #pending: Task[] | undefined
  #busy = false
  #stopped = false

  /** A task threw (a bug, not a client error). */
  protected abstract taskFailed (error: unknown): void

  /**
   * Runs `task` after every task scheduled before it has settled. Returns false (and drops the
   * task) once stopped, or when MAX_PENDING_FRAMES are already waiting.
   */
  schedule (task: Task): boolean {
    if (this.#stopped) return false
    if (this.#busy) {
      const pending = this.#pending ??= []
      if (pending.length >= MAX_PENDING_FRAMES) return false
      pending.push(task)
      return true
    }
    this.#run(task)
    return true
  }

  /** Nothing more runs (the connection closed); what waits is dropped. */
  protected stopTasks (): void {
    this.#stopped = true
    if (this.#pending !== undefined) this.#pending.length = 0
  }

  #run (task: Task): void {
    this.#busy = true
    let result: Promise<void> | void
    try {
      result = task()
    } catch (err) {
      this.#fail(err)
      return
    }
    if (result === undefined) this.#next()
    else result.then(() => this.#next(), (err: unknown) => this.#fail(err))
  }

  #next (): void {
    this.#busy = false
    const task = this.#pending?.shift()
    if (task !== undefined && !this.#stopped) this.#run(task)
  }

  #fail (err: unknown): void {
    this.#busy = false
    if (this.#pending !== undefined) this.#pending.length = 0
    this.taskFailed(err)
  }
}

/**
 * Requests waiting for their reply, by `ref`. A request made while the socket is not open waits
 * for it; one sent before the connection dropped is resent after the reconnect if it is a message
 * (effectively once, by its ref), and fails otherwise (a join or leave may or may not have
 * happened: the caller decides). A message answered UNAVAILABLE (the server's backend is away, and
 * it may or may not have been kept) is sent again with the same ref after a pause, until it is
 * answered otherwise or its time is up.
 *
 * Order: a room's messages go one at a time, each once the one before it was answered, so that a
 * retry never lets a later message overtake an earlier one (the server numbers what reaches it
 * first). A request for a room being resumed after a reconnect waits for that room's `joined`
 * (until then the server does not count this connection in it).
 */
import type { ErrorFrame, ServerFrame } from '../protocol/schemas.js'

/** A server's error reply, as a rejection of the request that caused it. */
export class ChatRequestError extends Error {
  readonly code: string
  constructor (frame: ErrorFrame) {
    super(frame.message)
    this.name = 'ChatRequestError'
    this.code = frame.code
  }
}

interface Pending {
  resolve (frame: ServerFrame): void
  reject (err: Error): void
  timer: ReturnType<typeof setTimeout>
  text: string
  resendable: boolean
  sent: boolean
  send: (text: string) => boolean
  /** UNAVAILABLE answers so far, and the pause before the next try. */
  retries: number
  retry?: ReturnType<typeof setTimeout>
  /** The room it is for (it waits while that room is resumed), and the lane of one-at-a-time messages. */
  room?: string
  lane?: string
}

/** Where a request goes: its room, and for a message the lane in which it waits its turn. */
export interface Route { room?: string, lane?: string }

/** The pause before the next try of a message answered UNAVAILABLE: 250 ms, doubling, at most 4 s, +/- 50%. */
export function retryDelay (retries: number): number {
  return Math.min(4000, 250 * 2 ** retries) * (0.5 + Math.random())
}

export class Requests {
  readonly #pending = new Map<string, Pending>()
  readonly #timeout: number
  /** Whether requests for a room may go (false while the room is being resumed). */
  readonly #ready: (room: string) => boolean

  constructor (timeout: number, ready: (room: string) => boolean = () => true) {
    this.#timeout = timeout
    this.#ready = ready
  }

  /**
   * Registers a request; `send` writes it now if the socket is open and its turn has come (else
   * it waits for `opened` or `pump`).
   */
  add<T extends ServerFrame> (ref: string, text: string, resendable: boolean, send: ((text: string) => boolean), route: Route = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref)
        clearTimeout(pending.retry)
        reject(new Error(`no reply within ${this.#timeout} ms`))
        this.pump()
      }, this.#timeout)
      const pending: Pending = { resolve: resolve as (f: ServerFrame) => void, reject, timer, text, resendable, sent: false, send, retries: 0, ...route }
      this.#pending.set(ref, pending)
      if (this.#mayGo(pending)) pending.sent = send(text)
    })
  }

  /** Its room is not being resumed, and, for a message, none before it in its lane is unanswered. */
  #mayGo (p: Pending): boolean {
    if (p.room !== undefined && !this.#ready(p.room)) return false
    if (p.lane === undefined) return true
    for (const q of this.#pending.values()) if (q.lane === p.lane) return q === p
    return true
  }

  /** The socket (re)opened: send what waited, resend messages, fail what may have been lost. */
  opened (send: (text: string) => void): void {
    for (const [ref, p] of this.#pending) {
      if (!p.sent || p.resendable) {
        clearTimeout(p.retry)
        p.retry = undefined
        p.sent = false
        if (this.#mayGo(p)) {
          p.sent = true
          send(p.text)
        }
      } else {
        this.#drop(ref, p, new Error('the connection was lost before the reply'))
      }
    }
  }

  /** Sends what waited for its turn or its room and may go now. */
  pump (): void {
    for (const p of this.#pending.values()) {
      if (!p.sent && p.retry === undefined && this.#mayGo(p)) p.sent = p.send(p.text)
    }
  }

  /** A reply with this ref settles its request (an error frame rejects it). */
  settle (ref: string, frame: ServerFrame): void {
    const p = this.#pending.get(ref)
    if (p === undefined) return
    // Not done now, and maybe done before (a resend after a reconnect): again, with the same ref.
    const again = frame.type === 'error' && p.resendable &&
      (frame.code === 'UNAVAILABLE' || (frame.code === 'RATE_LIMITED' && frame.retryAfter !== undefined))
    if (again) {
      // The server keeps it once; the rest of its lane waits behind it.
      clearTimeout(p.retry)
      p.sent = false
      p.retry = setTimeout(() => {
        p.retry = undefined
        if (this.#mayGo(p)) p.sent = p.send(p.text)
      }, Math.max(retryDelay(p.retries++), frame.type === 'error' ? frame.retryAfter ?? 0 : 0))
      return
    }
    this.#pending.delete(ref)
    clearTimeout(p.timer)
    clearTimeout(p.retry)
    if (frame.type === 'error') p.reject(new ChatRequestError(frame))
    else p.resolve(frame)
    this.pump()
  }

  /** Everything waiting fails (the client closed for good). */
  failAll (err: Error): void {
    for (const [ref, p] of this.#pending) this.#drop(ref, p, err)
  }

  #drop (ref: string, p: Pending, err: Error): void {
    clearTimeout(p.timer)
    clearTimeout(p.retry)
    this.#pending.delete(ref)
    p.reject(err)
  }
}

/**
 * Requests waiting for their reply, by `ref`. A request made while the socket is not open waits
 * for it; one sent before the connection dropped is resent after the reconnect if it is a message
 * (effectively once, by its ref), and fails otherwise (a join or leave may or may not have
 * happened: the caller decides). A message answered UNAVAILABLE (the server's backend is away, and
 * it may or may not have been kept) is sent again with the same ref after a pause, until it is
 * answered otherwise or its time is up.
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
}

/** The pause before the next try of a message answered UNAVAILABLE: 250 ms, doubling, at most 4 s, +/- 50%. */
function retryDelay (retries: number): number {
  return Math.min(4000, 250 * 2 ** retries) * (0.5 + Math.random())
}

export class Requests {
  readonly #pending = new Map<string, Pending>()
  readonly #timeout: number

  constructor (timeout: number) {
    this.#timeout = timeout
  }

  /** Registers a request; `send` writes it now if the socket is open (else it waits for `opened`). */
  add<T extends ServerFrame> (ref: string, text: string, resendable: boolean, send: ((text: string) => boolean)): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref)
        clearTimeout(pending.retry)
        reject(new Error(`no reply within ${this.#timeout} ms`))
      }, this.#timeout)
      const pending: Pending = { resolve: resolve as (f: ServerFrame) => void, reject, timer, text, resendable, sent: false, send, retries: 0 }
      this.#pending.set(ref, pending)
      pending.sent = send(text)
    })
  }

  /** The socket (re)opened: send what waited, resend messages, fail what may have been lost. */
  opened (send: (text: string) => void): void {
    for (const [ref, p] of this.#pending) {
      if (!p.sent || p.resendable) {
        clearTimeout(p.retry)
        p.sent = true
        send(p.text)
      } else {
        this.#drop(ref, p, new Error('the connection was lost before the reply'))
      }
    }
  }

  /** A reply with this ref settles its request (an error frame rejects it). */
  settle (ref: string, frame: ServerFrame): void {
    const p = this.#pending.get(ref)
    if (p === undefined) return
    if (frame.type === 'error' && frame.code === 'UNAVAILABLE' && p.resendable) {
      // Not done now, and maybe done: again, with the same ref (the server keeps it once).
      clearTimeout(p.retry)
      p.retry = setTimeout(() => { p.sent = p.send(p.text) }, retryDelay(p.retries++))
      return
    }
    this.#pending.delete(ref)
    clearTimeout(p.timer)
    clearTimeout(p.retry)
    if (frame.type === 'error') p.reject(new ChatRequestError(frame))
    else p.resolve(frame)
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

/**
 * Tokens that expire while their socket is open: `tokenExpiring` `tokenExpiringLead` ms before
 * `exp` (at once if less is left), and a close with 4001 `expiryGrace` ms after it, unless a
 * `refresh` re-arms the timers first. Deadlines are grouped by the second they fall in: one timer
 * per second with anything due, not one per connection (a timer and its closure cost about 250
 * bytes, and tokens issued together expire together), so each fires up to a second late.
 */
import { CloseCode } from './constants.js'
import type { Connection } from './transport/connection.js'

/** Timers cannot wait longer (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1
/** Deadlines are rounded up to this. */
const BUCKET_MS = 1000

/** What is due for a connection: its warning (`warn`) or its close, for a token expiring at `expMs`. */
interface Due { expMs: number, warn: boolean }

export class TokenExpiry {
  readonly #lead: number
  readonly #grace: number
  readonly #warn: (conn: Connection, msLeft: number) => void
  /** Per second (its end, ms): its timer and what is due then. */
  readonly #buckets = new Map<number, { timer: NodeJS.Timeout, due: Map<Connection, Due> }>()
  /** Each armed connection's bucket. */
  readonly #bucketOf = new Map<Connection, number>()

  /** @param warn sends `tokenExpiring` with the ms left */
  constructor (lead: number, grace: number, warn: (conn: Connection, msLeft: number) => void) {
    this.#lead = lead
    this.#grace = grace
    this.#warn = warn
  }

  /** (Re-)arms a connection's timers from its token's `exp` (seconds); none without one. */
  arm (conn: Connection, exp: unknown): void {
    this.clear(conn)
    if (typeof exp !== 'number' || !Number.isFinite(exp) || conn.closed) return
    const expMs = exp * 1000
    if (expMs - this.#lead <= Date.now()) this.#warnNow(conn, expMs)
    else this.#at(conn, expMs - this.#lead, { expMs, warn: true })
  }

  #warnNow (conn: Connection, expMs: number): void {
    this.#warn(conn, Math.max(0, expMs - Date.now()))
    this.#at(conn, expMs + this.#grace, { expMs, warn: false })
  }

  /** `due` for `conn` at `when` (ms since the epoch), in the bucket of that second. */
  #at (conn: Connection, when: number, due: Due): void {
    const key = Math.ceil(when / BUCKET_MS) * BUCKET_MS
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) this.#buckets.set(key, bucket = { timer: this.#timer(key), due: new Map() })
    bucket.due.set(conn, due)
    this.#bucketOf.set(conn, key)
  }

  #timer (key: number): NodeJS.Timeout {
    return setTimeout(() => this.#fire(key), Math.min(MAX_TIMER_MS, Math.max(0, key - Date.now()))).unref()
  }

  #fire (key: number): void {
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return
    // Past what one timer can wait: it waits again.
    if (key - Date.now() > 0) {
      bucket.timer = this.#timer(key)
      return
    }
    this.#buckets.delete(key)
    for (const [conn, due] of bucket.due) {
      this.#bucketOf.delete(conn)
      if (due.warn) {
        this.#warnNow(conn, due.expMs)
      } else {
        conn.log.info('token expired and was not refreshed: closing with 4001')
        conn.close(CloseCode.TOKEN_EXPIRED, 'token expired')
      }
    }
  }

  /** The connection closed (or refreshed): what was due for it goes. */
  clear (conn: Connection): void {
    const key = this.#bucketOf.get(conn)
    if (key === undefined) return
    this.#bucketOf.delete(conn)
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return
    bucket.due.delete(conn)
    if (bucket.due.size > 0) return
    clearTimeout(bucket.timer)
    this.#buckets.delete(key)
  }

  clearAll (): void {
    for (const bucket of this.#buckets.values()) clearTimeout(bucket.timer)
    this.#buckets.clear()
    this.#bucketOf.clear()
  }
}

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

/**
 * One second's deadlines: its timer, and the connections due a warning or a close then, each with
 * its token's `exp` (seconds: a small integer, kept unboxed, where ms would take a heap number).
 */
interface Bucket { timer: NodeJS.Timeout, warn: Map<Connection, number>, close: Map<Connection, number> }

export class TokenExpiry {
  readonly #lead: number
  readonly #grace: number
  readonly #warn: (conn: Connection, msLeft: number) => void
  /** Per second (its end, in seconds): its timer and what is due then. */
  readonly #buckets = new Map<number, Bucket>()

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
    if (exp * 1000 - this.#lead <= Date.now()) this.#warnNow(conn, exp)
    else this.#at(conn, exp * 1000 - this.#lead, exp, true)
  }

  #warnNow (conn: Connection, exp: number): void {
    this.#warn(conn, Math.max(0, exp * 1000 - Date.now()))
    this.#at(conn, exp * 1000 + this.#grace, exp, false)
  }

  /** A warning or a close for `conn` at `when` (ms since the epoch), in the bucket of that second. */
  #at (conn: Connection, when: number, exp: number, warn: boolean): void {
    // The bucket's key lives on the connection (its own field): no map from connections to keys.
    const key = Math.ceil(when / BUCKET_MS)
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) this.#buckets.set(key, bucket = { timer: this.#timer(key), warn: new Map(), close: new Map() })
    ;(warn ? bucket.warn : bucket.close).set(conn, exp)
    conn.expiryBucket = key
  }

  #timer (key: number): NodeJS.Timeout {
    return setTimeout(() => this.#fire(key), Math.min(MAX_TIMER_MS, Math.max(0, key * BUCKET_MS - Date.now()))).unref()
  }

  #fire (key: number): void {
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return
    // Past what one timer can wait: it waits again.
    if (key * BUCKET_MS - Date.now() > 0) {
      bucket.timer = this.#timer(key)
      return
    }
    this.#buckets.delete(key)
    for (const [conn, exp] of bucket.warn) {
      conn.expiryBucket = undefined
      this.#warnNow(conn, exp)
    }
    for (const conn of bucket.close.keys()) {
      conn.expiryBucket = undefined
      conn.log.info('token expired and was not refreshed: closing with 4001')
      conn.close(CloseCode.TOKEN_EXPIRED, 'token expired')
    }
  }

  /** The connection closed (or refreshed): what was due for it goes. */
  clear (conn: Connection): void {
    const key = conn.expiryBucket
    if (key === undefined) return
    conn.expiryBucket = undefined
    const bucket = this.#buckets.get(key)
    if (bucket === undefined) return
    if (!bucket.warn.delete(conn)) bucket.close.delete(conn)
    if (bucket.warn.size + bucket.close.size > 0) return
    clearTimeout(bucket.timer)
    this.#buckets.delete(key)
  }

  clearAll (): void {
    for (const bucket of this.#buckets.values()) {
      clearTimeout(bucket.timer)
      for (const conn of bucket.warn.keys()) conn.expiryBucket = undefined
      for (const conn of bucket.close.keys()) conn.expiryBucket = undefined
    }
    this.#buckets.clear()
  }
}

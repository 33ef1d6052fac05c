/**
 * Tokens that expire while their socket is open: `tokenExpiring` `tokenExpiringLead` ms before
 * `exp` (at once if less is left), and a close with 4001 `expiryGrace` ms after it, unless a
 * `refresh` re-arms the timers first.
 */
import { CloseCode } from './constants.js'
import type { Connection } from './transport/connection.js'

/** Timers cannot wait longer (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

export class TokenExpiry {
  readonly #lead: number
  readonly #grace: number
  readonly #warn: (conn: Connection, msLeft: number) => void
  /** One timer per connection at a time: the warning's, then the close's. */
  readonly #timers = new Map<Connection, NodeJS.Timeout>()

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
    const warnIn = expMs - this.#lead - Date.now()
    if (warnIn <= 0) this.#warnNow(conn, expMs)
    else this.#at(conn, warnIn, () => this.#warnNow(conn, expMs))
  }

  #warnNow (conn: Connection, expMs: number): void {
    this.#warn(conn, Math.max(0, expMs - Date.now()))
    this.#at(conn, expMs + this.#grace - Date.now(), () => {
      this.#timers.delete(conn)
      conn.log.info('token expired and was not refreshed: closing with 4001')
      conn.close(CloseCode.TOKEN_EXPIRED, 'token expired')
    })
  }

  /** Runs `then` in `ms` (in steps, past what one timer can wait). */
  #at (conn: Connection, ms: number, then: () => void): void {
    const wait = Math.max(0, ms)
    if (wait > MAX_TIMER_MS) {
      this.#timers.set(conn, setTimeout(() => this.#at(conn, wait - MAX_TIMER_MS, then), MAX_TIMER_MS).unref())
      return
    }
    this.#timers.set(conn, setTimeout(then, wait).unref())
  }

  /** The connection closed (or refreshed): its timer goes. */
  clear (conn: Connection): void {
    const timer = this.#timers.get(conn)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#timers.delete(conn)
  }

  clearAll (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
  }
}

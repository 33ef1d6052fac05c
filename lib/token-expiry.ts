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
  readonly #timers = new Map<Connection, NodeJS.Timeout[]>()

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
    const now = Date.now()
    const timers: NodeJS.Timeout[] = []
    this.#timers.set(conn, timers)
    const closeIn = expMs + this.#grace - now
    if (closeIn > MAX_TIMER_MS) {
      // Beyond what a timer can wait: look again later.
      timers.push(setTimeout(() => this.arm(conn, exp), MAX_TIMER_MS).unref())
      return
    }
    const warn = (): void => this.#warn(conn, Math.max(0, expMs - Date.now()))
    const warnIn = expMs - this.#lead - now
    if (warnIn <= 0) warn()
    else timers.push(setTimeout(warn, warnIn).unref())
    timers.push(setTimeout(() => {
      this.#timers.delete(conn)
      conn.log.info('token expired and was not refreshed: closing with 4001')
      conn.close(CloseCode.TOKEN_EXPIRED, 'token expired')
    }, Math.max(0, closeIn)).unref())
  }

  /** The connection closed (or refreshed): its timers go. */
  clear (conn: Connection): void {
    const timers = this.#timers.get(conn)
    if (timers === undefined) return
    for (const timer of timers) clearTimeout(timer)
    this.#timers.delete(conn)
  }

  clearAll (): void {
    for (const timers of this.#timers.values()) for (const timer of timers) clearTimeout(timer)
    this.#timers.clear()
  }
}

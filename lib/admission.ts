/**
 * Who may connect, before any token work: open sockets per IP on this process, and upgrade
 * attempts per IP in a sliding minute. Counts only: the auth hook asks, the core reports opens and
 * closes. (Connections per user count across every process: the adapter's `admit`.)
 */
import { ATTEMPT_WINDOW_MS, MAX_TRACKED_IPS } from './constants.js'

export interface AdmissionLimits {
  /** 0: off. */
  readonly maxConnectionsPerIp: number
  /** 0: off. */
  readonly maxConnectAttemptsPerIp: number
}

export class Admission {
  readonly #limits: AdmissionLimits
  /** Open sockets per IP on this process. */
  readonly #perIp = new Map<string, number>()
  /** Upgrade attempts per IP in the current minute (insertion order: oldest window first). */
  readonly #attempts = new Map<string, { since: number, count: number }>()
  /**
   * Whether any per-IP limit is on. When none is, the client's address is never read: it costs a
   * system call per upgrade and, cached on the socket, about 80 bytes a connection.
   */
  readonly perIp: boolean

  constructor (limits: AdmissionLimits) {
    this.#limits = limits
    this.perIp = limits.maxConnectionsPerIp > 0 || limits.maxConnectAttemptsPerIp > 0
  }

  /**
   * Records an upgrade attempt from `ip` and says whether it may go on: under the per-IP open
   * sockets limit and the per-IP attempts a minute (both off by default).
   */
  recordAttempt (ip: string, now = Date.now()): boolean {
    const { maxConnectionsPerIp, maxConnectAttemptsPerIp } = this.#limits
    if (maxConnectionsPerIp > 0 && (this.#perIp.get(ip) ?? 0) >= maxConnectionsPerIp) return false
    if (maxConnectAttemptsPerIp === 0) return true
    let a = this.#attempts.get(ip)
    if (a === undefined || now - a.since >= ATTEMPT_WINDOW_MS) {
      this.#attempts.delete(ip)
      a = { since: now, count: 0 }
      this.#attempts.set(ip, a)
      // Bounded: expired windows, and past the bound the oldest, go.
      for (const [k, v] of this.#attempts) {
        if (this.#attempts.size <= MAX_TRACKED_IPS && now - v.since < ATTEMPT_WINDOW_MS) break
        this.#attempts.delete(k)
      }
    }
    return ++a.count <= maxConnectAttemptsPerIp
  }

  opened (ip: string): void {
    if (this.#limits.maxConnectionsPerIp > 0) this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1)
  }

  closed (ip: string): void {
    if (this.#limits.maxConnectionsPerIp > 0) decrement(this.#perIp, ip)
  }

  clear (): void {
    this.#perIp.clear()
    this.#attempts.clear()
  }
}

function decrement (counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1
  if (n <= 0) counts.delete(key)
  else counts.set(key, n)
}

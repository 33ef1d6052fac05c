/**
 * Load shedding for upgrades (the `admission` option): while this process's event loop lags past
 * `maxEventLoopDelay` in two samples running, or right now while upgrades pour in (a lone pause, a
 * GC or a synchronous call, with an upgrade or two arriving, is not overload and sheds nothing), or
 * more than `maxPendingUpgrades` upgrades are being authenticated and admitted at once, a new
 * upgrade is refused with 503 and `Retry-After` before any token work. A
 * reconnection storm (a deploy, a crash) then turns into clients waiting their turn, with jitter,
 * instead of a process that spends everything on handshakes it cannot finish; connections already
 * open are not touched.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks'

export interface OverloadOptions {
  /** Refuse new upgrades while the event loop's delay (the worst of a SAMPLE_MS) is above this, ms: see #lagging. */
  maxEventLoopDelay: number
  /** Refuse new upgrades while this many are being authenticated and admitted. */
  maxPendingUpgrades: number
  /** The `Retry-After` of a refusal, seconds. */
  retryAfter: number
}

/** How often the event loop's delay is read (and its histogram reset), ms. */
const SAMPLE_MS = 100
/** Upgrades within one sample that make a late loop a storm's (at once), not a lone pause's. */
const STORM_ARRIVALS = 16

export class Overload {
  readonly #opts: OverloadOptions | false
  #histogram: IntervalHistogram | undefined
  #timer: NodeJS.Timeout | undefined
  /** The event loop's worst delay over the last sample, and over the one before it, ms. */
  #lag = 0
  #lagBefore = 0
  /** When the sampler last ran (performance.now()). */
  #tick = 0
  #pending = 0
  /** Upgrades asked about since the sampler last ran. */
  #arrivals = 0

  constructor (opts: OverloadOptions | false) {
    this.#opts = opts
  }

  start (): void {
    if (this.#opts === false || this.#histogram !== undefined) return
    const h = this.#histogram = monitorEventLoopDelay({ resolution: 10 })
    h.enable()
    this.#tick = performance.now()
    this.#timer = setInterval(() => {
      this.#lagBefore = this.#lag
      this.#lag = h.max / 1e6
      this.#tick = performance.now()
      this.#arrivals = 0
      h.reset()
    }, SAMPLE_MS).unref()
  }

  /** Whether a new upgrade must wait: the seconds of its `Retry-After`, or undefined to let it in. */
  refuse (): number | undefined {
    const o = this.#opts
    if (o === false) return undefined
    this.#arrivals++
    if (this.#pending < o.maxPendingUpgrades && !this.#lagging(o.maxEventLoopDelay)) return undefined
    return o.retryAfter
  }

  /**
   * Late now while upgrades pour in (a storm's first long turn), or two of the last samples (the
   * one running now counts by its lateness) above `max`.
   */
  #lagging (max: number): boolean {
    if (this.#histogram === undefined) return false
    // How late the sampler is now: a loop blocked this very moment has not let it run yet.
    const now = performance.now() - this.#tick - SAMPLE_MS
    if (now > max && this.#arrivals > STORM_ARRIVALS) return true
    return (now > max ? 1 : 0) + (this.#lag > max ? 1 : 0) + (this.#lagBefore > max ? 1 : 0) >= 2
  }

  /** An upgrade's authentication starts (`end` when it is done, however it ends). */
  begin (): void {
    this.#pending++
  }

  end (): void {
    this.#pending--
  }

  close (): void {
    clearInterval(this.#timer)
    this.#histogram?.disable()
    this.#histogram = undefined
  }
}

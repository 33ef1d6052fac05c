import { VIOLATION_WINDOW_MS } from '../constants.js'

export type Verdict = 'ok' | 'limited' | 'close'

/**
 * One connection's token bucket over every frame it sends, plus the count of refused frames
 * over a sliding minute. Refill is computed lazily on each frame: no timers per connection.
 */
export class RateLimiter {
  readonly #perMs: number
  readonly #burst: number
  readonly #maxViolations: number
  #tokens: number
  #last: number
  // Times of the last maxViolations refusals, as a ring; made on the first refusal only.
  #violations: Float64Array | undefined
  #next = 0

  constructor (perSecond: number, burst: number, maxViolations: number, now: number) {
    this.#perMs = perSecond / 1000
    this.#burst = burst
    this.#maxViolations = maxViolations
    this.#tokens = burst
    this.#last = now
  }

  /** Takes a token for one frame; `now` in ms from a monotonic clock. */
  take (now: number): Verdict {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs)
      this.#last = now
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 'ok'
    }
    return this.#refuse(now)
  }

  /** How long until the bucket holds a token again, ms (as of the last frame). */
  get retryAfter (): number {
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs))
  }

  #refuse (now: number): Verdict {
    const size = this.#maxViolations
    if (size === 0) return 'close'
    const ring = this.#violations ??= new Float64Array(size).fill(-Infinity)
    // The slot we overwrite holds the refusal maxViolations refusals ago: if it is within the
    // window, this one makes more than maxViolations in it.
    const oldest = ring[this.#next]
    ring[this.#next] = now
    this.#next = (this.#next + 1) % size
    return now - oldest < VIOLATION_WINDOW_MS ? 'close' : 'limited'
  }
}

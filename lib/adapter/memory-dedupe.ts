/**
 * The memory adapter's dedupe table of effectively-once sends: what the first send of a
 * (user, room, ref) answered, for its resends. Pure data with explicit time.
 */

/** What a first send answered, for a resend with the same (user, room, ref). */
export interface SentMessage {
  id: string
  seq: number
  epoch: string
  /** What it said (see MessageDraft.digest): a resend must say the same. */
  digest: string
}

/**
 * The dedupe table of effectively-once sends, keyed by (userId, room, ref) for ttl, with at most
 * `max` entries (the oldest go first: a resend later than that is a new message).
 */
export class Dedupe {
  readonly #entries = new Map<string, SentMessage & { at: number }>()
  readonly #ttl: number
  readonly #max: number

  constructor (ttl: number, max: number) {
    this.#ttl = ttl
    this.#max = max
  }

  get size (): number {
    return this.#entries.size
  }

  get (key: string, now: number): SentMessage | undefined {
    const e = this.#entries.get(key)
    if (e === undefined || e.at < now - this.#ttl) return undefined
    return e
  }

  set (key: string, sent: SentMessage, now: number): void {
    this.#entries.set(key, { ...sent, at: now })
    // Insertion order is time order: expired and excess entries are at the front.
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#max && e.at >= now - this.#ttl) break
      this.#entries.delete(k)
    }
  }

  clear (): void {
    this.#entries.clear()
  }
}

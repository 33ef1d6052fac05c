/**
 * Per-room message history in memory (the memory adapter's), and the dedupe table of
 * effectively-once sends. Pure data with explicit time: no timers, no I/O.
 *
 * Each room keeps at least its last `size` messages younger than `ttl` and at most `2 * size`;
 * all rooms together hold at most `maxBytes` of message text (UTF-8): past that, the histories of
 * the rooms that have gone longest without a message are dropped whole. A room whose history is
 * dropped, or that stays empty and idle for `ttl`, starts again with a new epoch at seq 1.
 */
import { newEpoch } from './epoch.js'

export interface StoredMessage {
  seq: number
  /** When it was published, ms. */
  at: number
  /** The `message` frame as delivered. */
  text: string
  bytes: number
}

interface RoomHistory {
  epoch: string
  seq: number
  items: StoredMessage[]
  bytes: number
  /** Last message (or creation), ms: for dropping idle empty rooms. */
  touched: number
}

export type Since =
  | { recovered: true, messages: StoredMessage[] }
  | { recovered: false }

export class MemoryHistory {
  readonly #rooms = new Map<string, RoomHistory>()
  readonly #size: number
  readonly #ttl: number
  readonly #maxBytes: number
  #bytes = 0

  constructor (size: number, ttl: number, maxBytes: number) {
    this.#size = size
    this.#ttl = ttl
    this.#maxBytes = maxBytes
  }

  /** Bytes of message text held across all rooms (never above `maxBytes`). */
  get bytes (): number {
    return this.#bytes
  }

  get roomCount (): number {
    return this.#rooms.size
  }

  #room (room: string, now: number): RoomHistory {
    let h = this.#rooms.get(room)
    if (h === undefined) {
      h = { epoch: newEpoch(), seq: 0, items: [], bytes: 0, touched: now }
      this.#rooms.set(room, h)
    }
    return h
  }

  /** The room's newest seq (0 if none) and its epoch, made if the room had none. */
  state (room: string, now: number): { seq: number, epoch: string } {
    const h = this.#room(room, now)
    return { seq: h.seq, epoch: h.epoch }
  }

  /** Assigns the next seq, builds the frame with it and keeps it. */
  append (room: string, now: number, build: (seq: number, epoch: string) => string): StoredMessage & { epoch: string } {
    const h = this.#room(room, now)
    // Most recently used last: the byte bound drops the rooms at the front first.
    this.#rooms.delete(room)
    this.#rooms.set(room, h)
    const seq = ++h.seq
    const text = build(seq, h.epoch)
    const item: StoredMessage = { seq, at: now, text, bytes: Buffer.byteLength(text) }
    h.items.push(item)
    h.bytes += item.bytes
    h.touched = now
    this.#bytes += item.bytes
    this.#trim(h, now)
    this.#bound(room)
    return { ...item, epoch: h.epoch }
  }

  #drop (h: RoomHistory, count: number): void {
    let freed = 0
    for (let i = 0; i < count; i++) freed += h.items[i].bytes
    h.items.splice(0, count)
    h.bytes -= freed
    this.#bytes -= freed
  }

  /** At most 2 x size (dropping down to size, so the work is amortized), and nothing older than ttl. */
  #trim (h: RoomHistory, now: number): void {
    if (h.items.length >= 2 * this.#size && h.items.length > 0) this.#drop(h, h.items.length - this.#size)
    let old = 0
    while (old < h.items.length && h.items[old].at < now - this.#ttl) old++
    if (old > 0) this.#drop(h, old)
  }

  /** Drops whole histories, least recently used first, until within maxBytes. */
  #bound (keep: string): void {
    for (const [name, h] of this.#rooms) {
      if (this.#bytes <= this.#maxBytes) return
      if (name === keep) continue
      this.#bytes -= h.bytes
      this.#rooms.delete(name)
    }
    // One room alone over the bound: keep its newest messages that fit.
    const h = this.#rooms.get(keep)
    if (h !== undefined && this.#bytes > this.#maxBytes) {
      let excess = this.#bytes - this.#maxBytes
      let n = 0
      while (excess > 0 && n < h.items.length - 1) excess -= h.items[n++].bytes
      this.#drop(h, n)
    }
  }

  /**
   * The messages after `seq` in `epoch`, if every one of them is still held; otherwise
   * `recovered: false` (another epoch, a seq from the future, or message seq+1 gone).
   */
  since (room: string, seq: number, epoch: string, now: number): Since {
    const h = this.#rooms.get(room)
    if (h === undefined) return { recovered: false }
    this.#trim(h, now)
    if (h.epoch !== epoch || seq > h.seq) return { recovered: false }
    if (seq === h.seq) return { recovered: true, messages: [] }
    const first = h.items[0]
    if (first === undefined || first.seq > seq + 1) return { recovered: false }
    return { recovered: true, messages: h.items.slice(seq + 1 - first.seq) }
  }

  /** A page: the first `limit` with seq > after, or the last `limit` with seq < before. */
  page (room: string, now: number, { after, before, limit }: { after?: number, before?: number, limit: number }): { epoch: string, messages: StoredMessage[] } {
    const h = this.#rooms.get(room)
    if (h === undefined) return { epoch: '', messages: [] }
    this.#trim(h, now)
    if (before !== undefined) {
      const upTo = h.items.filter((m) => m.seq < before)
      return { epoch: h.epoch, messages: upTo.slice(Math.max(0, upTo.length - limit)) }
    }
    const from = after ?? 0
    return { epoch: h.epoch, messages: h.items.filter((m) => m.seq > from).slice(0, limit) }
  }

  /** Expires old messages everywhere and forgets rooms empty and idle for ttl (their epoch ends). */
  sweep (now: number): void {
    for (const [name, h] of this.#rooms) {
      this.#trim(h, now)
      if (h.items.length === 0 && h.touched < now - this.#ttl) this.#rooms.delete(name)
    }
  }

  clear (): void {
    this.#rooms.clear()
    this.#bytes = 0
  }
}

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

/**
 * Per-room message history in memory (the memory adapter's). Pure data with explicit time: no
 * timers, no I/O.
 *
 * Each room keeps at least its last `size` messages younger than `ttl` and at most `2 * size`;
 * all rooms together hold at most `maxBytes` of message text (UTF-8): past that, the histories of
 * the rooms that have gone longest without a message are dropped whole. A room whose history is
 * dropped, or that stays empty and idle for `ttl`, starts again with a new epoch at seq 1.
 */
import { scrubbedEdit } from '../protocol/scrub.js'
import { newEpoch } from './epoch.js'

export interface StoredMessage {
  seq: number
  /** When it was published, ms. */
  at: number
  /** The frame as delivered (a message's at its latest version). */
  text: string
  bytes: number
  /** A message's id (none for an edit or deletion event). */
  id?: string
  /** An edit or deletion event, not a message: replayed on resume, left out of history pages. */
  change?: true
  /** A change's message: its seq (a deletion empties the message's earlier edits). */
  of?: number
  /** A message that was deleted (its text is the tombstone). */
  deleted?: true
}

/** What a new event is: a message (with its id) or a change (of the message at seq `of`). */
export type EventKind = { id: string } | { change: true, of: number }

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
  append (room: string, now: number, build: (seq: number, epoch: string) => string, kind?: EventKind): { seq: number, text: string, epoch: string } {
    const h = this.#room(room, now)
    const seq = ++h.seq
    const item = this.#item(seq, now, build(seq, h.epoch), kind)
    h.items.push(item)
    this.#added(room, h, item, now)
    return { seq, text: item.text, epoch: h.epoch }
  }

  /**
   * Keeps an event a store numbered: in seq order whatever order they come in (processes
   * publish their commits independently). Another epoch than the room's replaces its history.
   */
  put (room: string, epoch: string, seq: number, text: string, now: number, kind?: EventKind): void {
    let h = this.#room(room, now)
    if (h.epoch !== epoch) {
      this.#bytes -= h.bytes
      h = { epoch, seq: 0, items: [], bytes: 0, touched: now }
      this.#rooms.set(room, h)
    }
    let at = h.items.length
    while (at > 0 && h.items[at - 1].seq >= seq) at--
    if (h.items[at]?.seq === seq) return
    // An edit that comes after its message's deletion (another process published it later) is
    // kept emptied, as the deletion left the others.
    const of = kind !== undefined && 'of' in kind ? kind.of : undefined
    const gone = of !== undefined && h.items.some((m) => m.seq === of && m.deleted === true)
    const item = this.#item(seq, now, gone ? scrubbedEdit(text) : text, kind)
    h.items.splice(at, 0, item)
    if (seq > h.seq) h.seq = seq
    this.#added(room, h, item, now)
  }

  #item (seq: number, now: number, text: string, kind: EventKind | undefined): StoredMessage {
    const item: StoredMessage = { seq, at: now, text, bytes: Buffer.byteLength(text) }
    if (kind !== undefined && 'id' in kind) {
      item.id = kind.id
    } else if (kind !== undefined) {
      item.change = true
      item.of = kind.of
    }
    return item
  }

  #added (room: string, h: RoomHistory, item: StoredMessage, now: number): void {
    // Most recently used last: the byte bound drops the rooms at the front first.
    this.#rooms.delete(room)
    this.#rooms.set(room, h)
    h.bytes += item.bytes
    h.touched = now
    this.#bytes += item.bytes
    this.#trim(h, now)
    this.#bound(room)
  }

  /** A message held by id (with the room's epoch), at its latest version. */
  find (room: string, id: string, now: number): (StoredMessage & { epoch: string }) | undefined {
    const h = this.#rooms.get(room)
    if (h === undefined) return undefined
    this.#trim(h, now)
    const item = h.items.find((m) => m.id === id)
    return item === undefined ? undefined : { ...item, epoch: h.epoch }
  }

  /**
   * The message at `seq` of `epoch` becomes `text` (its new version, or its tombstone); a deletion
   * also empties the edits of it that the history holds, so that no replay serves its old text.
   * False when it is not held (trimmed, another epoch) or already deleted.
   */
  revise (room: string, epoch: string, seq: number, text: string, deleted: boolean): boolean {
    const h = this.#rooms.get(room)
    if (h === undefined || h.epoch !== epoch) return false
    const item = h.items.find((m) => m.seq === seq)
    if (item === undefined || item.deleted === true || item.id === undefined) return false
    this.#rewrite(h, item, text)
    if (deleted) {
      item.deleted = true
      for (const m of h.items) if (m.of === seq) this.#rewrite(h, m, scrubbedEdit(m.text))
    }
    return true
  }

  #rewrite (h: RoomHistory, item: StoredMessage, text: string): void {
    const bytes = Buffer.byteLength(text)
    h.bytes += bytes - item.bytes
    this.#bytes += bytes - item.bytes
    item.text = text
    item.bytes = bytes
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
    if (this.#bytes <= this.#maxBytes) return
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
    let i = h.items.length
    while (i > 0 && h.items[i - 1].seq > seq) i--
    const missed = h.items.slice(i)
    // Every one of them, without a hole (a store's events may have come out of order, or not at all).
    if (missed.length !== h.seq - seq || missed[0].seq !== seq + 1) return { recovered: false }
    return { recovered: true, messages: missed }
  }

  /**
   * A page of messages (edits and deletions are not): the first `limit` with seq > after, the
   * last `limit` with seq < before, or the newest `limit` with neither.
   */
  page (room: string, now: number, { after, before, limit }: { after?: number, before?: number, limit: number }): { epoch: string, messages: StoredMessage[] } {
    const h = this.#rooms.get(room)
    if (h === undefined) return { epoch: '', messages: [] }
    this.#trim(h, now)
    if (after !== undefined) return { epoch: h.epoch, messages: h.items.filter((m) => m.seq > after && m.change !== true).slice(0, limit) }
    const upTo = h.items.filter((m) => (before === undefined || m.seq < before) && m.change !== true)
    return { epoch: h.epoch, messages: upTo.slice(Math.max(0, upTo.length - limit)) }
  }

  /**
   * The room's newest seq, and its messages after `after` not sent by the user whose id is
   * `userJson` (JSON-encoded) nor deleted, counted up to `cap`; complete when every event after
   * `after` is held.
   */
  unread (room: string, after: number, userJson: string, cap: number, now: number): { seq: number, unread: number, complete: boolean } {
    const h = this.#rooms.get(room)
    if (h === undefined) return { seq: 0, unread: 0, complete: true }
    this.#trim(h, now)
    if (cap <= 0 || after >= h.seq) return { seq: h.seq, unread: 0, complete: true }
    let unread = 0
    let i = h.items.length - 1
    for (; i >= 0 && h.items[i].seq > after && unread < cap; i--) {
      const m = h.items[i]
      if (m.change !== true && m.deleted !== true && !sentBy(m.text, userJson)) unread++
    }
    // Stopped at the cap, or every event after the marker is held: nothing missed.
    const complete = unread >= cap || (i >= 0 ? h.items[i].seq <= after : h.items.length > 0 && h.items[0].seq === after + 1)
    return { seq: h.seq, unread, complete }
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

/**
 * Whether a message frame was sent by the user (`userJson`: its id JSON-encoded). The first
 * `,"userId":` is the sender's: a quote inside a JSON string is always escaped, so the sequence
 * cannot come from the room name, content or meta before it.
 */
export function sentBy (text: string, userJson: string): boolean {
  const at = text.indexOf(',"userId":')
  return at !== -1 && text.startsWith(userJson, at + 10)
}

/**
 * Live delivery without holes: per room with local members, the last message seq this process
 * delivered. A message that arrives with a seq beyond the next one (the transport dropped some,
 * as pub/sub does while a subscriber reconnects), or a resubscribe after an outage, makes the
 * feed read the missing range from the room's history and deliver it first; later messages wait
 * behind it. A message at or below the last seq is a copy and is dropped. So every local member
 * gets every message once, in seq order, without reconnecting.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Resume } from '../adapter/contract.js'

/** Most frames a room holds while its gap is being read; past it, the repair gives up. */
const MAX_HELD = 10_000
/** Repairs that fail (the backend is unreachable) are tried again after these delays, ms. */
const RETRY_DELAYS = [100, 250, 500, 1000, 2000, 4000]

interface Held { text: string, except: string | undefined, seq: number, epoch: string }

interface Feed {
  seq: number
  epoch: string
  /** Set while a repair reads the history: live frames wait here, in arrival (= seq) order. */
  held?: Held[]
}

export interface FeedTarget {
  /** Writes a frame to the local members of a room (a message with its seq and epoch). */
  write (room: string, text: string, except: string | undefined, seq: number | undefined, epoch: string | undefined): void
  /**
   * What this process delivers in a room from now on follows a hole (messages up to `before` were
   * never delivered here) or starts a new epoch: a member's run of live messages starts there.
   */
  gap (room: string, before: number): void
  /** Reads the messages after `seq` of `epoch` (the adapter's `since`). */
  since (room: string, seq: number, epoch: string): Promise<Resume>
  readonly log: FastifyBaseLogger
}

export class RoomFeeds {
  readonly #feeds = new Map<string, Feed>()
  readonly #target: FeedTarget
  #closed = false

  constructor (target: FeedTarget) {
    this.#target = target
  }

  /**
   * A frame for a room. Frames without a seq (presence) go straight through; messages are checked
   * against the room's last delivered seq.
   */
  deliver (room: string, text: string, except?: string, seq?: number, epoch?: string): void {
    if (seq === undefined || epoch === undefined) {
      this.#target.write(room, text, except, undefined, undefined)
      return
    }
    const feed = this.#feeds.get(room)
    if (feed === undefined) {
      // The first message since this process has members here: it starts the count.
      this.#feeds.set(room, { seq, epoch })
      this.#target.write(room, text, except, seq, epoch)
      return
    }
    if (feed.held !== undefined) {
      if (feed.held.length >= MAX_HELD) this.#giveUp(room, feed, 'too many frames held')
      else feed.held.push({ text, except, seq, epoch })
      return
    }
    if (epoch !== feed.epoch) {
      // The room's history was lost and started again: nothing before can be read back.
      feed.epoch = epoch
      feed.seq = seq
      this.#target.gap(room, seq - 1)
      this.#target.write(room, text, except, seq, epoch)
      return
    }
    if (seq <= feed.seq) return
    if (seq === feed.seq + 1) {
      feed.seq = seq
      this.#target.write(room, text, except, seq, epoch)
      return
    }
    feed.held = [{ text, except, seq, epoch }]
    this.#target.log.warn({ room, after: feed.seq, got: seq }, 'fastify-chat: messages missed on the way here; reading them from history')
    void this.#repair(room, feed, 0)
  }

  /** A join told us the room's newest seq: the count starts there if no message came first. */
  started (room: string, seq: number, epoch: string): void {
    if (!this.#feeds.has(room)) this.#feeds.set(room, { seq, epoch })
  }

  /** The last seq delivered in a room, and its epoch (undefined: nothing tracked there). */
  position (room: string): { seq: number, epoch: string } | undefined {
    const feed = this.#feeds.get(room)
    return feed === undefined ? undefined : { seq: feed.seq, epoch: feed.epoch }
  }

  /** The room has no local members any more. */
  stopped (room: string): void {
    this.#feeds.delete(room)
  }

  /** The transport may have dropped frames (it reconnected): check every room (or one) against history. */
  resync (only?: string): void {
    for (const [room, feed] of this.#feeds) {
      if (feed.held !== undefined || (only !== undefined && room !== only)) continue
      feed.held = []
      void this.#repair(room, feed, 0)
    }
  }

  close (): void {
    this.#closed = true
    this.#feeds.clear()
  }

  async #repair (room: string, feed: Feed, attempt: number): Promise<void> {
    let resume: Resume
    try {
      resume = await this.#target.since(room, feed.seq, feed.epoch)
    } catch (err) {
      if (this.#current(room, feed) && attempt < RETRY_DELAYS.length) {
        setTimeout(() => { void this.#repair(room, feed, attempt + 1) }, RETRY_DELAYS[attempt]).unref()
      } else if (this.#current(room, feed)) {
        this.#giveUp(room, feed, (err as Error).message)
      }
      return
    }
    if (!this.#current(room, feed)) return
    if (resume.recovered) {
      for (const m of resume.messages) {
        if (m.seq <= feed.seq) continue
        feed.seq = m.seq
        this.#target.write(room, m.text, undefined, m.seq, feed.epoch)
      }
    } else {
      this.#target.log.warn({ room, after: feed.seq }, 'fastify-chat: missed messages are no longer in history; members resuming will be told recovered: false')
      // The hole stays: count on from what is held, so it is not read again.
      const first = feed.held?.[0]
      if (first !== undefined && first.epoch === feed.epoch && first.seq > feed.seq) {
        feed.seq = first.seq - 1
        this.#target.gap(room, feed.seq)
      }
    }
    this.#release(room, feed)
  }

  /** Whether this feed is still the room's (the room may have emptied, or the node closed). */
  #current (room: string, feed: Feed): boolean {
    return !this.#closed && this.#feeds.get(room) === feed
  }

  #giveUp (room: string, feed: Feed, why: string): void {
    this.#target.log.warn({ room, why }, 'fastify-chat: could not read missed messages from history; delivering what came since')
    // Whatever the hole, what is held is delivered: the clients' own resume can fill the rest.
    const held = feed.held ?? []
    feed.held = undefined
    if (held.length > 0) {
      feed.seq = held[0].seq - 1
      feed.epoch = held[0].epoch
      this.#target.gap(room, feed.seq)
    }
    for (const h of held) this.deliver(room, h.text, h.except, h.seq, h.epoch)
  }

  /** Delivers what was held during a repair; a new hole among them starts another repair. */
  #release (room: string, feed: Feed): void {
    const held = feed.held ?? []
    feed.held = undefined
    for (let i = 0; i < held.length; i++) {
      this.deliver(room, held[i].text, held[i].except, held[i].seq, held[i].epoch)
      // Read again: deliver() may have started a new repair (TypeScript cannot see it).
      const again = feed.held as Held[] | undefined
      if (again !== undefined) {
        // The rest waits behind it, in order.
        again.push(...held.slice(i + 1))
        return
      }
    }
  }
}

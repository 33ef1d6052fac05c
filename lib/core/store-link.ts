/**
 * The core's side of a store: messages committed in batches (the messages of one turn, for any
 * rooms, in one round trip; one batch in flight at a time, so that a sender's messages keep their
 * order), then handed to the adapter numbered; resumes that the hot window cannot serve read from
 * the store; a join's seq and epoch are the store's. What the store answers about a room's epoch
 * is remembered, so that most joins need no query.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatAdapter, MessageDraft, Published, Resume, RoomState, StoredFrame } from '../adapter/contract.js'
import type { ChatStore, MessageChange, StoredEvent, StoreMessage } from '../store/contract.js'
import { eventFrame } from './message.js'

/** Most messages in one commit. */
const MAX_BATCH = 500
/** Events read from the store per query while resuming. */
const PAGE = 1000
/** Most events a resume replays; past it the client is told `recovered: false` (and pages the REST history). */
export const MAX_REPLAY = 10_000
/** Rooms whose epoch is remembered. */
const MAX_EPOCHS = 100_000

interface Pending {
  message: StoreMessage
  draft: MessageDraft
  resolve: (p: Published) => void
  reject: (err: unknown) => void
}

export function isUnavailable (err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'FST_CHAT_UNAVAILABLE'
}

/** How many times a failed hand-over is tried again (about a minute, the last ones 8 s apart). */
const HAND_OVER_TRIES = 12

export class StoreLink {
  readonly store: ChatStore
  readonly #adapter: () => ChatAdapter
  readonly #refTtl: number
  readonly #log: FastifyBaseLogger
  #queue: Pending[] = []
  #busy = false
  #scheduled = false
  readonly #epochs = new Map<string, string>()
  readonly #flushing = new Set<Promise<void>>()
  /** Hand-overs to the adapter that failed, waiting to be tried again. */
  readonly #retries = new Set<NodeJS.Timeout>()
  #closed = false

  constructor (store: ChatStore, adapter: () => ChatAdapter, refTtl: number, log: FastifyBaseLogger) {
    this.store = store
    this.#adapter = adapter
    this.#refTtl = refTtl
    this.#log = log
  }

  /** Commits a message with the others of this turn; resolves once it is committed and handed to the adapter. */
  async commit (message: StoreMessage, draft: MessageDraft): Promise<Published> {
    return await new Promise<Published>((resolve, reject) => {
      this.#queue.push({ message, draft, resolve, reject })
      if (!this.#busy && !this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  #flush (): void {
    this.#scheduled = false
    if (this.#busy) return
    this.#busy = true
    const run = this.#drain().finally(() => {
      this.#busy = false
      this.#flushing.delete(run)
      // Queued between the last batch and now: the next flush takes them.
      if (this.#queue.length > 0 && !this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
    this.#flushing.add(run)
  }

  /** One batch in flight; what arrives meanwhile is the next batch. */
  async #drain (): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH)
      let results: Published[]
      try {
        results = await this.store.append(batch.map((p) => p.message), this.#refTtl)
      } catch (err) {
        await this.#failed(batch, err)
        continue
      }
      this.#committed(batch, results)
    }
  }

  async #failed (batch: Pending[], err: unknown): Promise<void> {
    if (isUnavailable(err) || batch.length === 1) {
      for (const p of batch) p.reject(err)
      return
    }
    // Not the database being away: one message may be at fault. Each alone, so that only it fails.
    this.#log.error({ err }, 'fastify-chat: a batch of messages failed to commit; committing them one by one')
    for (const p of batch) {
      try {
        this.#committed([p], await this.store.append([p.message], this.#refTtl))
      } catch (e) {
        p.reject(e)
      }
    }
  }

  #committed (batch: Pending[], results: Published[]): void {
    const rooms = new Map<string, { epoch: string, frames: StoredFrame[], acks: Array<() => void> }>()
    for (let i = 0; i < batch.length; i++) {
      const { message, draft, resolve } = batch[i]
      const r = results[i]
      this.learn(message.room, r.epoch)
      if (r.status !== 'sent') {
        resolve(r)
        // Committed before, but maybe never delivered (its process died in between): again, as a
        // copy that every feed drops if it has it.
        if (r.status === 'duplicate') this.#republish(message.room, r.id)
        continue
      }
      let room = rooms.get(message.room)
      if (room === undefined) rooms.set(message.room, room = { epoch: r.epoch, frames: [], acks: [] })
      room.frames.push({ seq: r.seq, id: r.id, text: draft.head + r.seq + draft.mid + r.epoch + draft.tail })
      room.acks.push(() => resolve(r))
    }
    // Handed over now, in commit order. A failure loses nothing: the messages are committed, and
    // resumes read them from the store; the hand-over is tried again (see #handOver).
    for (const [name, room] of rooms) {
      void this.#handOver(name, room.epoch, room.frames, 'committed messages')
        .finally(() => { for (const ack of room.acks) ack() })
    }
  }

  #republish (room: string, id: string): void {
    this.store.message(room, id)
      .then(async (e) => { if (e !== null) await this.#adapter().publishStored(room, e.epoch, [{ seq: e.seq, id: e.id, text: eventFrame(e) }]) })
      .catch((err: unknown) => this.#log.warn({ err, room }, 'fastify-chat: could not deliver a resent message again'))
  }

  /** Remembers a room's epoch as the store said it. */
  learn (room: string, epoch: string): void {
    if (this.#epochs.get(room) === epoch) return
    if (this.#epochs.size >= MAX_EPOCHS) this.#epochs.delete(this.#epochs.keys().next().value as string)
    this.#epochs.set(room, epoch)
  }

  /**
   * A join's state: the adapter's (members, and the hot window's seq) when its epoch is the
   * store's; otherwise the store's seq and epoch (with the store away, UNAVAILABLE). Never below
   * what this process has delivered of the room: the adapter learns of a committed event after this process has
   * delivered it (and not at all while Redis is away), so its seq may lag; a join that said less
   * would have its member resume from there and get what it already had twice.
   */
  async joinState (room: string, state: RoomState, position: { seq: number, epoch: string } | undefined): Promise<RoomState> {
    const known = this.#epochs.get(room)
    if (known !== undefined && state.epoch === known) {
      return position?.epoch === known && position.seq > state.seq ? { ...state, seq: position.seq } : state
    }
    if (known !== undefined && position?.epoch === known) return { ...state, seq: position.seq, epoch: known }
    // The store away: the hot window served above when its epoch is known to be the store's.
    // Otherwise it cannot be told from one Redis made after a failover (a process that never
    // learned the store's epoch, since it started): a join that said it would have the client
    // resume against the wrong history. UNAVAILABLE instead (the store's error), asked again.
    const s = await this.store.state(room)
    this.learn(room, s.epoch)
    return { ...state, seq: s.seq, epoch: s.epoch }
  }

  /**
   * The events after `seq` of `epoch`: from the hot window when it holds them all, else from the
   * store; `recovered: false` only when the store no longer has them (or more than MAX_REPLAY).
   */
  async since (room: string, seq: number, epoch: string, hot: () => Promise<Resume>): Promise<Resume> {
    // The hot window answers for the store only in the store's epoch: Redis may have given the
    // room an epoch of its own after a failover, and a resume from that one is the store's to judge.
    if (this.#epochs.get(room) === epoch) {
      try {
        const held = await hot()
        if (held.recovered) return held
      } catch (err) {
        if (!isUnavailable(err)) throw err
      }
    }
    const messages: Array<{ seq: number, text: string }> = []
    let after = seq
    for (;;) {
      const page = await this.store.events(room, after, PAGE)
      this.learn(room, page.epoch)
      if (page.epoch !== epoch || seq > page.seq) return { recovered: false }
      for (const e of page.events) {
        if (e.seq !== after + 1) return { recovered: false }
        messages.push({ seq: e.seq, text: eventFrame(e) })
        after = e.seq
      }
      if (after >= page.seq || page.events.length < PAGE) break
      if (messages.length >= MAX_REPLAY) return { recovered: false }
    }
    return { recovered: true, messages }
  }

  /** A page of the stored history, as frames. */
  async page (room: string, options: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const page = await this.store.messages(room, options)
    this.learn(room, page.epoch)
    return { epoch: page.epoch, messages: page.messages.map(eventFrame) }
  }

  /**
   * An edit (with `change.content`) or deletion of `message`, committed, then handed to the adapter
   * with the message's new version. Null when the store no longer has it (or it was deleted).
   */
  async change (message: StoredEvent, change: MessageChange, version: string, deleted: boolean): Promise<StoredEvent | null> {
    const e = deleted ? await this.store.delete(message.room, message.id, change) : await this.store.edit(message.room, message.id, change)
    if (e === null) return null
    this.learn(message.room, e.epoch)
    await this.#handOver(message.room, e.epoch, [{ seq: e.seq, text: eventFrame(e), revises: { seq: message.seq, text: version, deleted } }], 'a committed change')
    return e
  }

  /**
   * Hands committed events to the adapter, which keeps them in the hot window and publishes them
   * to the room's other processes. When that fails (Redis away, a failover), it is tried again
   * after 0.5, 1, 2, 4, 8, 8... s for about a minute: until then the other processes hear of the
   * events only when a later one shows them a hole, and a room that says nothing more would leave
   * their members without them (the chaos run found a direct message never delivered that way).
   * A retry is harmless: the adapter keeps nothing twice, and feeds drop what they have.
   */
  async #handOver (room: string, epoch: string, frames: StoredFrame[], what: string, attempt = 0): Promise<void> {
    try {
      await this.#adapter().publishStored(room, epoch, frames)
      if (attempt > 0) this.#log.info({ room, attempts: attempt + 1 }, `fastify-chat: ${what} handed to the adapter after all`)
    } catch (err) {
      if (attempt === 0) this.#log.warn({ err, room }, `fastify-chat: ${what} could not be handed to the adapter; trying again (resumes read them from the store meanwhile)`)
      if (this.#closed || attempt >= HAND_OVER_TRIES) return
      const timer = setTimeout(() => {
        this.#retries.delete(timer)
        void this.#handOver(room, epoch, frames, what, attempt + 1)
      }, Math.min(8000, 500 * 2 ** attempt))
      timer.unref()
      this.#retries.add(timer)
    }
  }

  /** Waits for the commits under way, then closes the store. */
  async close (): Promise<void> {
    this.#closed = true
    for (const timer of this.#retries) clearTimeout(timer)
    this.#retries.clear()
    await Promise.all(this.#flushing)
    this.#epochs.clear()
    await this.store.close()
  }
}

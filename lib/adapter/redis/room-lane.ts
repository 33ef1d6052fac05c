/**
 * A room's calls to Redis, one at a time, in the order this process asked them: its joins, leaves,
 * messages, edits and deletions, and the events a store numbered. What is asked of a room while
 * its previous call is on its way waits and goes in the next call: consecutive requests of one
 * kind together (one script call for a turn's messages, or a storm's joins), so that a busy room
 * costs a fraction of a call per item and the order holds across kinds.
 *
 * One call in flight is what keeps the order through every retry: a call answered NOSCRIPT is sent
 * again with EVAL, ioredis resends a redirected (MOVED, ASK, TRYAGAIN) or unanswered command by
 * itself, and none of that keeps the order between two calls in flight. The next call leaves only
 * once the previous one has settled in Redis, not when its caller stopped waiting: a call past its
 * deadline (its callers were answered UNAVAILABLE) holds the room until it settles, and what is
 * asked meanwhile is answered UNAVAILABLE at once instead of queueing behind it.
 */
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'

/** One call under way: its answer (what its callers get) and when it is settled in Redis. */
export interface Call<O> {
  answer: Promise<O[]>
  settled: Promise<unknown>
}

/**
 * A kind of call: how to make one for a room's items. `since` is when the oldest of them was asked
 * (ms since the epoch): its deadline counts from then, not from when the call leaves, so that time
 * spent waiting behind the room's previous call counts too.
 */
export type Runner<I, O> = (room: string, items: I[], since: number) => Call<O>

interface Waiting {
  kind: string
  /** Requests go in one call only with the same group (by default their kind). */
  group: string
  item: unknown
  /** When it was asked. */
  at: number
  resolve: (o: unknown) => void
  reject: (e: unknown) => void
}

interface Lane {
  queue: Waiting[]
  /** A call is on its way. */
  busy: boolean
  /** Its callers were answered (past its deadline) but it has not settled: new requests fail fast. */
  stuck: boolean
}

export class RoomLanes {
  readonly #runners = new Map<string, Runner<unknown, unknown>>()
  readonly #lanes = new Map<string, Lane>()
  readonly #max: number
  /** Lanes with requests to send at the end of this turn (so that a turn's requests go together). */
  #due = new Set<string>()
  #scheduled = false

  /** @param max the most items of one call */
  constructor (max = 256) {
    this.#max = max
  }

  /**
   * Declares a kind of call (one Lua script, say) and how to make it; the function it returns asks
   * for one item, which goes in a call with the consecutive items of its `group` (default: all of
   * its kind).
   */
  kind<I, O> (name: string, run: Runner<I, O>): (room: string, item: I, group?: string) => Promise<O> {
    this.#runners.set(name, run as Runner<unknown, unknown>)
    // Not async: each async layer on a message's way costs a promise and a microtask turn.
    return (room, item, group = name) => this.#add(name, group, room, item) as Promise<O>
  }

  /** Requests waiting or on their way, over every room (for tests and metrics). */
  get pending (): number {
    let n = 0
    for (const lane of this.#lanes.values()) n += lane.queue.length + (lane.busy ? 1 : 0)
    return n
  }

  #add (kind: string, group: string, room: string, item: unknown): Promise<unknown> {
    let lane = this.#lanes.get(room)
    if (lane === undefined) this.#lanes.set(room, lane = { queue: [], busy: false, stuck: false })
    if (lane.stuck) return Promise.reject(new FST_CHAT_UNAVAILABLE('Redis has not settled this room\'s previous call yet'))
    return new Promise((resolve, reject) => {
      lane.queue.push({ kind, group, item, at: Date.now(), resolve, reject })
      if (lane.busy) return
      this.#due.add(room)
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flushDue())
      }
    })
  }

  #flushDue (): void {
    this.#scheduled = false
    const due = this.#due
    this.#due = new Set()
    for (const room of due) this.#next(room)
  }

  /** Sends the room's next call: the leading requests of one group, at most `max`. */
  #next (room: string): void {
    const lane = this.#lanes.get(room)
    if (lane === undefined || lane.busy) return
    if (lane.queue.length === 0) {
      this.#lanes.delete(room)
      return
    }
    const { kind, group } = lane.queue[0]
    let n = 1
    while (n < lane.queue.length && n < this.#max && lane.queue[n].group === group) n++
    const batch = lane.queue.splice(0, n)
    lane.busy = true
    let call: Call<unknown>
    try {
      call = this.#runners.get(kind)!(room, batch.map((w) => w.item), batch[0].at)
    } catch (err) {
      call = { answer: Promise.reject(err), settled: Promise.resolve() }
    }
    let settled = false
    const onSettled = (): void => {
      settled = true
      lane.busy = false
      lane.stuck = false
      this.#next(room)
    }
    // First: a call that fails in Redis has settled by the time its answer says so.
    call.settled.then(onSettled, onSettled)
    call.answer.then((results) => {
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i])
    }, (err: unknown) => {
      for (const w of batch) w.reject(err)
      if (settled) return
      // Answered, not settled: whatever waits behind it would wait without a deadline.
      lane.stuck = true
      for (const w of lane.queue.splice(0)) w.reject(new FST_CHAT_UNAVAILABLE('Redis has not settled this room\'s previous call yet'))
    })
  }
}

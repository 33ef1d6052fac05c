/**
 * The socket requests about people rather than rooms' messages: `typing` (best effort, a bucket
 * of its own), `read` (a read marker), `watch`/`unwatch`, and the mute check the dispatcher asks before anything new is
 * said. Called by the dispatcher, which owns error frames.
 */
import { performance } from 'node:perf_hooks'
import { ErrorCode } from './constants.js'
import type { ChatHub } from './core/hub.js'
import { displayName } from './core/message.js'
import { MAX_WATCHED } from './core/watches.js'
import type { ResolvedOptions } from './options.js'
import type { Ref } from './protocol/schemas.js'
import type { Connection } from './transport/connection.js'
import { RateLimiter } from './transport/rate-limit.js'

type Refuse = (conn: Connection, code: ErrorCode, message: string, ref: Ref | undefined) => undefined

export class PeopleRequests {
  readonly #hub: ChatHub
  readonly #opts: ResolvedOptions
  readonly #refuse: Refuse
  /** Each connection's typing bucket, made on its first `typing`. */
  readonly #typingBuckets = new WeakMap<Connection, RateLimiter>()

  constructor (hub: ChatHub, opts: ResolvedOptions, refuse: Refuse) {
    this.#hub = hub
    this.#opts = opts
    this.#refuse = refuse
  }

  /** Typing in a room: best effort, in a bucket of its own; over it, dropped without a word. */
  typing (conn: Connection, room: string, on: boolean, ref: Ref | undefined): undefined {
    if (!this.#hub.membership.has(room, conn.id)) return this.#refuse(conn, ErrorCode.NOT_A_MEMBER, `only members may type in room "${room}"`, ref)
    const now = performance.now()
    let bucket = this.#typingBuckets.get(conn)
    if (bucket === undefined) this.#typingBuckets.set(conn, bucket = new RateLimiter(this.#opts.typingRate, this.#opts.typingRate, 0, now))
    if (bucket.take(now) !== 'ok') return undefined
    if (conn.restrictions?.find('mute', room) !== undefined) return undefined
    this.#hub.typing.typed(conn, room, on, displayName(conn.user))
    return undefined
  }

  /** The user has read `room` up to `seq`: its marker moves (see ReadMarkers.mark). */
  async read (conn: Connection, room: string, seq: number, ref: Ref | undefined): Promise<void> {
    if (await this.#hub.reads.mark(conn, room, seq, ref) === null) {
      this.#refuse(conn, ErrorCode.NOT_A_MEMBER, `only members (or a direct conversation's two participants) may mark room "${room}" read`, ref)
    }
  }

  /** Watches users' presence: a `presence` frame for each, then `watching` with everyone watched. */
  async watch (conn: Connection, users: string[], ref: Ref | undefined): Promise<void> {
    const outcome = await this.#hub.watches.watch(conn, users)
    if (outcome.status === 'too-many') {
      this.#refuse(conn, ErrorCode.TOO_MANY_WATCHED, `a connection may watch at most ${MAX_WATCHED} users: unwatch some first (nothing changed)`, ref)
    } else if (outcome.status === 'forbidden') {
      this.#refuse(conn, ErrorCode.FORBIDDEN, `you may not see the presence of ${JSON.stringify(outcome.userId).slice(0, 80)} (nothing changed)`, ref)
    } else {
      this.#watching(conn, outcome.watching, ref)
    }
  }

  async unwatch (conn: Connection, users: string[], ref: Ref | undefined): Promise<void> {
    this.#watching(conn, await this.#hub.watches.unwatch(conn, users), ref)
  }

  #watching (conn: Connection, users: string[], ref: Ref | undefined): void {
    this.#hub.send(conn, ref === undefined ? { type: 'watching', users } : { type: 'watching', users, ref })
  }

  /** Whether the user is muted in `room` (or everywhere): then it hears MUTED. */
  muted (conn: Connection, room: string, ref: Ref | undefined): boolean {
    const mute = conn.restrictions?.find('mute', room)
    if (mute === undefined) return false
    const until = mute.until === undefined ? '' : ` until ${new Date(mute.until).toISOString()}`
    const why = mute.reason === undefined ? '' : ` (${mute.reason})`
    this.#refuse(conn, ErrorCode.MUTED, `you are muted ${mute.room === undefined ? 'in this chat' : `in room "${room}"`}${until}${why}: you can read, not write`, ref)
    return true
  }
}

/**
 * A client's frames, decided: rate limit, decode, then the registry calls and the replies.
 * Knows neither `ws` nor HTTP. One client's bad frame is answered to that client only.
 */
import { performance } from 'node:perf_hooks'
import { CloseCode, ErrorCode } from './constants.js'
import type { ChatHub } from './core/hub.js'
import { directRoom, isDirect, SERVER_PARTY } from './core/direct.js'
import { noMetrics, type ChatMetrics } from './metrics.js'
import type { ChatUser } from './model.js'
import type { ResolvedOptions } from './options.js'
import { refusal } from './outcomes.js'
import { PeopleRequests } from './people-requests.js'
import type { Codec } from './protocol/codec.js'
import type { ErrorFrame } from './protocol/schemas.js'
import type { ClientRequest, Meta, Ref } from './protocol/schemas.js'
import type { Connection, ConnectionEvents, IncomingData } from './transport/connection.js'

export class Dispatcher implements ConnectionEvents {
  readonly #hub: ChatHub
  readonly #codec: Codec
  readonly #defaultRoom: string | false
  readonly #verify: (token: string) => Promise<ChatUser>
  readonly #canSend: ResolvedOptions['canSend']
  readonly #opts: ResolvedOptions
  /** Each connection's last message still on its way to the adapter (they settle in order). */
  readonly #inFlight = new WeakMap<Connection, Promise<unknown>>()
  readonly #people: PeopleRequests
  /** Set once the plugin has loaded prom-client (if the host asked for metrics). */
  metrics: ChatMetrics = noMetrics

  constructor (hub: ChatHub, codec: Codec, opts: ResolvedOptions, verify: (token: string) => Promise<ChatUser>) {
    this.#hub = hub
    this.#canSend = opts.canSend
    this.#opts = opts
    this.#codec = codec
    this.#defaultRoom = opts.defaultRoom
    this.#verify = verify
    this.#people = new PeopleRequests(hub, opts, (conn, code, message, ref) => this.#error(conn, code, message, ref))
  }

  /** A connection just opened: welcome and default room, ahead of any frame it sends. */
  open (conn: Connection): void {
    conn.schedule(() => this.#hub.open(conn).catch((err: unknown) => {
      this.#unavailable(conn, err, undefined, 'join the default room later')
    }))
  }

  onFrame (conn: Connection, data: IncomingData, isBinary: boolean): void {
    this.#hub.countIn()
    // The bucket is charged on arrival, whatever the frame holds: it is the frame rate we limit.
    const verdict = conn.limiter === undefined ? 'ok' : conn.limiter.take(performance.now())
    if (verdict === 'close') {
      // Queued, so that the frames accepted before this one are still answered.
      if (!conn.schedule(() => this.#rateLimitClose(conn))) void this.#rateLimitClose(conn)
      return
    }
    const limited = verdict === 'limited'
    if (!conn.schedule(() => this.#handle(conn, data, isBinary, limited))) {
      if (!conn.closed) {
        conn.log.warn('too many requests waiting: closing')
        conn.close(CloseCode.POLICY, 'too many pending requests')
      }
    }
  }

  async #rateLimitClose (conn: Connection): Promise<void> {
    // After the messages accepted before: their acks go out first.
    await this.#inFlight.get(conn)?.catch(noop)
    if (conn.closed) return
    conn.log.warn('rate limited too often: closing')
    conn.close(CloseCode.POLICY, 'rate limit exceeded')
  }

  onClose (conn: Connection, code: number): void {
    this.metrics.close(code)
    conn.debug({ code }, 'socket closed')
    this.#hub.remove(conn, 'closed')
  }

  onSlow (conn: Connection): void {
    // Out of its rooms at once: the others hear userLeft now, not when the socket finally closes.
    this.#hub.remove(conn, 'closed')
  }

  onTaskError (conn: Connection, error: unknown): void {
    conn.log.error({ err: error }, 'failed to handle a request: closing with 1011')
    conn.close(CloseCode.INTERNAL_ERROR, 'internal error')
  }

  #handle (conn: Connection, data: IncomingData, isBinary: boolean, limited: boolean): Promise<void> | undefined {
    const decoded = this.#codec.decode(data as Buffer, isBinary)
    if (limited) {
      const ref = decoded.ok ? decoded.request.ref : decoded.ref
      // When to try again: a message resent with its ref then (the typed client does) is kept once.
      return this.#error(conn, ErrorCode.RATE_LIMITED, 'too many frames: this one was dropped, slow down', ref, conn.limiter?.retryAfter)
    }
    if (!decoded.ok) return this.#error(conn, decoded.code, decoded.message, decoded.ref)
    const request = decoded.request
    const pending = this.#request(conn, request)
    if (pending === undefined) return undefined
    return pending.catch((err: unknown) => this.#unavailable(conn, err, request.ref))
  }

  /**
   * The backend is unreachable: nothing was done, so the client hears a retryable UNAVAILABLE and
   * keeps its socket. Any other error is a bug and goes on (to close the connection with 1011).
   */
  #unavailable (conn: Connection, err: unknown, ref: Ref | undefined, what = 'resend later with the same ref'): void {
    if ((err as { code?: string } | null)?.code !== 'FST_CHAT_UNAVAILABLE') throw err
    // A hook that timed out says so itself.
    const told = (err as { told?: unknown }).told
    this.#error(conn, ErrorCode.UNAVAILABLE, typeof told === 'string' ? told : `the chat backend is unavailable: ${what}`, ref)
  }

  #request (conn: Connection, request: ClientRequest): Promise<void> | undefined {
    if (!('action' in request)) {
      // The seed's plain client: `{"content"}` is a message to the default room.
      if (this.#defaultRoom === false) {
        return this.#error(conn, ErrorCode.BAD_REQUEST, 'there is no default room: send {"action":"message","room":...}', request.ref)
      }
      return this.#message(conn, this.#defaultRoom, request.content, undefined, request.ref)
    }
    switch (request.action) {
      case 'join': return this.#join(conn, request.room, request.ref, request.since)
      case 'leave': return this.#leave(conn, request.room, request.ref)
      case 'message': return this.#message(conn, request.room, request.content, request.meta, request.ref)
      case 'dm': return this.#dm(conn, request.to, request.content, request.meta, request.ref)
      case 'typing': return this.#people.typing(conn, request.room, request.typing, request.ref)
      case 'read': return this.#people.read(conn, request.room, request.seq, request.ref)
      case 'edit': return this.#change(conn, request.room, request.id, { content: request.content, meta: request.meta }, request.ref)
      case 'delete': return this.#change(conn, request.room, request.id, undefined, request.ref)
      case 'watch': return this.#people.watch(conn, request.users, request.ref)
      case 'unwatch': return this.#people.unwatch(conn, request.users, request.ref)
      case 'refresh': return this.#refresh(conn, request.token, request.ref)
    }
  }

  async #join (conn: Connection, room: string, ref: Ref | undefined, since: { seq: number, epoch: string } | undefined): Promise<void> {
    const refused = refusal(await this.#hub.joinRoom(conn, room, ref, since))
    if (refused !== undefined) this.#error(conn, refused.code, refused.message(room, this.#opts), ref)
  }

  #leave (conn: Connection, room: string, ref: Ref | undefined): Promise<void> | undefined {
    if (!this.#hub.membership.has(room, conn.id)) {
      const notMember = refusal('not-member')!
      return this.#error(conn, notMember.code, notMember.message(room, this.#opts), ref)
    }
    return this.#hub.leaveRoom(conn, room, 'left', ref).then(noop)
  }

  #message (conn: Connection, room: string, content: string, meta: Meta | undefined, ref: Ref | undefined): Promise<void> | undefined {
    if (!this.#hub.membership.has(room, conn.id)) {
      return this.#error(conn, ErrorCode.NOT_A_MEMBER, `only members may send to room "${room}": join it first`, ref)
    }
    // In a direct conversation, a message is a direct message to the other participant.
    if (isDirect(room)) return this.#inConversation(conn, room, content, meta, ref)
    if (conn.restrictions !== undefined && this.#people.muted(conn, room, ref)) return undefined
    const canSend = this.#canSend
    if (canSend !== undefined) {
      const allowed = canSend(conn.user, room)
      if (allowed instanceof Promise) {
        return allowed.then((ok) => {
          if (ok === true) this.#send(conn, room, content, meta, ref)
          else this.#error(conn, ErrorCode.FORBIDDEN, `you may not send to room "${room}"`, ref)
        })
      }
      if (allowed !== true) return this.#error(conn, ErrorCode.FORBIDDEN, `you may not send to room "${room}"`, ref)
    }
    this.#send(conn, room, content, meta, ref)
    return undefined
  }

  /** A direct message: the conversation ready (every connection of both users in it), then sent with `to`. */
  async #dm (conn: Connection, to: string, content: string, meta: Meta | undefined, ref: Ref | undefined): Promise<void> {
    if (to === conn.userId) {
      this.#error(conn, ErrorCode.BAD_REQUEST, 'a direct message goes to another user, not to yourself', ref)
      return
    }
    if (conn.restrictions !== undefined && this.#people.muted(conn, directRoom(conn.userId, to), ref)) return
    const canMessage = this.#opts.canMessage
    if (canMessage !== undefined && await canMessage(conn.user, to) !== true) {
      this.#error(conn, ErrorCode.FORBIDDEN, `you may not write to user ${JSON.stringify(to).slice(0, 80)}`, ref)
      return
    }
    let room: string | undefined
    const perMinute = this.#opts.maxNewConversationsPerMinute
    try {
      room = await this.#hub.direct.prepare(conn, to, perMinute)
    } catch (err) {
      this.#unavailable(conn, err, ref)
      return
    }
    if (room === undefined) {
      this.#error(conn, ErrorCode.RATE_LIMITED, `you started ${perMinute} new conversations within a minute: write to someone new later (nothing was sent)`, ref)
      return
    }
    this.#send(conn, room, content, meta, ref, to)
  }

  async #inConversation (conn: Connection, room: string, content: string, meta: Meta | undefined, ref: Ref | undefined): Promise<void> {
    const pair = await this.#hub.direct.participants(room)
    if (pair === null) return
    const other = pair[0] === conn.userId ? pair[1] : pair[0]
    if (other === SERVER_PARTY) {
      this.#error(conn, ErrorCode.FORBIDDEN, 'the server\'s conversation is read-only', ref)
      return
    }
    await this.#dm(conn, other, content, meta, ref)
  }

  #send (conn: Connection, room: string, content: string, meta: Meta | undefined, ref: Ref | undefined, to?: string): void {
    // Not awaited: the connection's next request may start while this one is on its way, so a
    // sender's messages are pipelined (kept in order by the hook's queue, the store's batches and
    // the adapter) instead of waiting a round trip each. The ack follows the commit or publish.
    // Saying something ends typing in the room.
    this.#hub.typing.stop(room, conn.userId)
    const sent = this.#hub.messages.fromClient(conn, room, content, meta, ref, to)
    this.#inFlight.set(conn, sent)
    // A resend of a message already published gets the original ack, and nothing is sent again.
    sent.then((result) => {
      if (result.status === 'rejected') {
        this.#error(conn, ErrorCode.REJECTED, result.reason, ref)
      } else if (ref === undefined) {
        // nothing to acknowledge
      } else if (result.status === 'reused') {
        const ttl = Math.round(this.#opts.history.ttl / 1000)
        this.#error(conn, ErrorCode.REF_REUSED, `ref ${JSON.stringify(ref)} was used for another message within the last ${ttl} s: nothing was sent; use a new ref`, ref)
      } else {
        this.#hub.send(conn, { type: 'ack', ref, id: result.id, seq: result.seq })
      }
    }, (err: unknown) => {
      try {
        this.#unavailable(conn, err, ref)
      } catch (bug) {
        this.onTaskError(conn, bug)
      }
    })
  }

  /** An edit (with content) or a deletion of a message of a room the connection is in. */
  async #change (conn: Connection, room: string, id: string, edit: { content: string, meta?: Meta } | undefined, ref: Ref | undefined): Promise<void> {
    if (!this.#hub.membership.has(room, conn.id)) {
      this.#error(conn, ErrorCode.NOT_A_MEMBER, `only members may ${edit === undefined ? 'delete' : 'edit'} messages of room "${room}": join it first`, ref)
      return
    }
    // A muted user may still delete (its own) messages: only saying something new is refused.
    if (edit !== undefined && conn.restrictions !== undefined && this.#people.muted(conn, room, ref)) return
    const actor = { user: conn.user, from: conn.id, userId: conn.userId }
    const result = await this.#hub.messages.change(actor, room, id, edit)
    switch (result.status) {
      case 'done':
        if (ref !== undefined) this.#hub.send(conn, { type: 'ack', ref, id, seq: result.seq })
        return
      case 'not-found':
        this.#error(conn, ErrorCode.NOT_FOUND, `room "${room}" has no message ${JSON.stringify(id)} in its history (or it was deleted)`, ref)
        return
      case 'forbidden':
        this.#error(conn, ErrorCode.FORBIDDEN, `you may not ${edit === undefined ? 'delete' : 'edit'} this message`, ref)
        return
      case 'rejected':
        this.#error(conn, ErrorCode.REJECTED, result.reason, ref)
    }
  }

  /** A fresh token for the same user: its claims and expiry replace the old ones. */
  async #refresh (conn: Connection, token: string, ref: Ref | undefined): Promise<void> {
    let user: ChatUser
    try {
      user = await this.#verify(token)
    } catch {
      this.#error(conn, ErrorCode.UNAUTHORIZED, 'the token is invalid or expired: nothing changed', ref)
      return
    }
    if (user.sub !== conn.userId) {
      this.#error(conn, ErrorCode.UNAUTHORIZED, 'the token is for another user: nothing changed', ref)
      return
    }
    conn.user = user
    this.#hub.expiry.arm(conn, user.exp)
    const exp = typeof user.exp === 'number' ? user.exp : 0
    this.#hub.send(conn, ref === undefined ? { type: 'refreshed', exp } : { type: 'refreshed', exp, ref })
  }

  #error (conn: Connection, code: ErrorCode, message: string, ref: Ref | undefined, retryAfter?: number): undefined {
    conn.debug({ code }, 'request refused')
    this.metrics.error(code)
    const frame: ErrorFrame = { type: 'error', code, message }
    if (ref !== undefined) frame.ref = ref
    if (retryAfter !== undefined) frame.retryAfter = retryAfter
    this.#hub.send(conn, frame)
    return undefined
  }
}

function noop (): void {}

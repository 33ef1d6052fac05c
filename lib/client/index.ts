/**
 * fastify-chat/client: a typed client for browsers and Node 20 (on the `ws` package where there
 * is no global WebSocket). Promise-returning join/leave/send that settle on the matching reply
 * (by `ref`), automatic reconnect with jittered backoff that rejoins its rooms with `since` (so
 * nothing is missed) and resends unacknowledged messages with their `ref` (so nothing is doubled),
 * and a hook to fetch a fresh token before each connection.
 */
import type {
  AckFrame, DeletedFrame, EditedFrame, ErrorFrame, JoinedFrame, LeftFrame, MessageFrame, Meta, PresenceFrame, RefreshedFrame, ServerFrame,
  TokenExpiringFrame, TypingFrame, UserJoinedFrame, UserLeftFrame, WatchingFrame, WelcomeFrame
} from '../protocol/schemas.js'
import { Requests } from './requests.js'
import { RoomTracker, type RoomEvent } from './room-tracker.js'
import { TypingDebounce } from './typing.js'
import { backoffDelay, openSocket, retryable, uuid, type Backoff, type Refusal, type SocketConstructor, type SocketLike } from './socket.js'

export { ChatRequestError } from './requests.js'
export { TYPING_EVERY_MS, TYPING_IDLE_MS } from './typing.js'
export type { SocketConstructor, SocketLike } from './socket.js'

/** The events of a client: every server frame by its type, and the connection's own. */
export interface ChatClientEvents {
  welcome: WelcomeFrame
  joined: JoinedFrame
  userJoined: UserJoinedFrame
  left: LeftFrame
  userLeft: UserLeftFrame
  message: MessageFrame
  /** A message was edited (the frame has the new content and meta). */
  edited: EditedFrame
  /** A message was deleted: show it as deleted, or drop it. */
  deleted: DeletedFrame
  ack: AckFrame
  error: ErrorFrame
  /** A watched user came online or went offline (and one for each at once on `watch`). */
  presence: PresenceFrame
  watching: WatchingFrame
  /** Who is typing in a room now (the whole set; empty: nobody). */
  typing: TypingFrame
  tokenExpiring: TokenExpiringFrame
  refreshed: RefreshedFrame
  /** The socket opened (also after a reconnect). */
  open: { reconnect: boolean }
  /**
   * The socket closed; `reconnecting` says whether the client will try again. An upgrade the
   * server refused has code 1006 and, where the WebSocket implementation shows it (Node's `ws`),
   * `status` (401, 403, 429, 503...).
   */
  close: { code: number, reason: string, reconnecting: boolean, status?: number }
  /** A reconnect is scheduled. */
  reconnecting: { attempt: number, delay: number }
  /** connecting, open, reconnecting, closed */
  status: ChatClientStatus
}

export type ChatClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface ChatClientOptions {
  /** The socket's URL, such as `wss://api.example.com/chat`. */
  url: string
  /** The token, or a function that fetches a fresh one before each connection. */
  token: string | (() => string | Promise<string>)
  /**
   * How the token travels: the `bearer.<jwt>` subprotocol beside `chat.v1` (default: not in the
   * URL, so not in logs) or the `token` query parameter.
   */
  transport?: 'subprotocol' | 'query'
  /** A WebSocket implementation; default the global one, else the `ws` package. */
  WebSocket?: SocketConstructor
  /**
   * Reconnect backoff, ms: from `minDelay` (250), times `factor` (2), up to `maxDelay` (10000),
   * +/- `jitter` (0.5, a fraction); never sooner than a refusal's `Retry-After`. `false`: never.
   */
  reconnect?: Backoff | false
  /** How long a request waits for its reply before it rejects, ms. Default 10000. */
  requestTimeout?: number
}

export class ChatClient {
  readonly #opts: ChatClientOptions
  readonly #listeners = new Map<keyof ChatClientEvents, Set<(payload: any) => void>>()
  readonly #requests: Requests
  /** Rooms this client is in, with the last seq and epoch seen: what a reconnect rejoins. */
  readonly #rooms = new RoomTracker()
  #socket: SocketLike | undefined
  #status: ChatClientStatus = 'closed'
  #closedByUser = false
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #clientId: string | undefined
  readonly #typingDebounce = new TypingDebounce((room, on) => {
    // Best effort: dropped while disconnected.
    if (this.#status === 'open' && this.#socket?.readyState === 1) this.#socket.send(JSON.stringify({ action: 'typing', room, typing: on }))
  })

  /** Users watched: watched again after a reconnect. */
  readonly #watched = new Set<string>()

  constructor (options: ChatClientOptions) {
    this.#opts = options
    this.#requests = new Requests(options.requestTimeout ?? 10_000)
  }

  /** This connection's id (changes with each reconnect). */
  get clientId (): string | undefined {
    return this.#clientId
  }

  get status (): ChatClientStatus {
    return this.#status
  }

  /** The rooms this client is in. */
  get rooms (): string[] {
    return this.#rooms.names
  }

  on<K extends keyof ChatClientEvents> (type: K, listener: (payload: ChatClientEvents[K]) => void): () => void {
    let set = this.#listeners.get(type)
    if (set === undefined) this.#listeners.set(type, set = new Set())
    set.add(listener)
    return () => { set!.delete(listener) }
  }

  #emit<K extends keyof ChatClientEvents> (type: K, payload: ChatClientEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) listener(payload)
  }

  #setStatus (status: ChatClientStatus): void {
    if (this.#status === status) return
    this.#status = status
    this.#emit('status', status)
  }

  /** Connects; resolves with `welcome`. Requests made meanwhile wait for it. */
  async connect (): Promise<WelcomeFrame> {
    this.#closedByUser = false
    return await this.#open(false)
  }

  async #open (reconnect: boolean): Promise<WelcomeFrame> {
    this.#setStatus(reconnect ? 'reconnecting' : 'connecting')
    let token: string
    try {
      token = typeof this.#opts.token === 'function' ? await this.#opts.token() : this.#opts.token
    } catch (err) {
      // The token hook failed (the server is still down, say): try again later, as for a failed socket.
      if (reconnect && !this.#closedByUser) this.#scheduleReconnect()
      throw err
    }
    const Ctor = this.#opts.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket ??
      ((await import('ws')).default as unknown as SocketConstructor)
    let refusal: Refusal | undefined
    const socket = openSocket(Ctor, this.#opts.url, token, this.#opts.transport ?? 'subprotocol', (r) => { refusal = r })
    this.#socket = socket
    return await new Promise<WelcomeFrame>((resolve, reject) => {
      let welcomed = false
      socket.onmessage = (ev) => {
        const frame = JSON.parse(String(ev.data)) as ServerFrame
        if (frame.type === 'welcome' && !welcomed) {
          welcomed = true
          this.#clientId = frame.clientId
          this.#attempt = 0
          this.#setStatus('open')
          this.#emit('open', { reconnect })
          resolve(frame)
          this.#resume()
        }
        this.#frame(frame)
      }
      socket.onclose = (ev) => {
        if (this.#socket !== socket) return
        const again = !this.#closedByUser && this.#opts.reconnect !== false &&
          retryable(ev.code, refusal, typeof this.#opts.token === 'function')
        const reason = refusal === undefined ? ev.reason : `HTTP ${refusal.status}`
        this.#emit('close', { code: ev.code, reason, reconnecting: again, ...(refusal === undefined ? {} : { status: refusal.status }) })
        if (!welcomed) reject(new Error(`could not connect: ${refusal === undefined ? `${ev.code} ${ev.reason}`.trim() : reason}`))
        if (again) this.#scheduleReconnect(refusal?.retryAfter)
        else this.#fail('closed')
      }
      socket.onerror = () => {}
    })
  }

  #scheduleReconnect (retryAfter?: number): void {
    this.#setStatus('reconnecting')
    const delay = backoffDelay(this.#attempt++, this.#opts.reconnect === false ? {} : this.#opts.reconnect ?? {}, retryAfter)
    this.#emit('reconnecting', { attempt: this.#attempt, delay })
    this.#timer = setTimeout(() => {
      this.#open(true).catch(() => {}) // a failed attempt closes, which schedules the next
    }, delay)
  }

  /** After a (re)connect: rejoin every room from the last seq seen, then send what waited. */
  #resume (): void {
    for (const { room, ref, seq, epoch } of this.#rooms.resumePoints(uuid)) {
      this.#raw({ action: 'join', room, since: { seq, epoch }, ref })
    }
    if (this.#watched.size > 0) this.#raw({ action: 'watch', users: [...this.#watched] })
    this.#requests.opened((text) => this.#socket!.send(text))
  }

  #frame (frame: ServerFrame): void {
    if (frame.type === 'message' || frame.type === 'edited' || frame.type === 'deleted') {
      // Copies are dropped, and a hole is asked for again before anything after it is shown.
      const { show, resync } = this.#rooms.message(frame, uuid)
      if (resync !== undefined) {
        try {
          this.#raw({ action: 'join', room: resync.room, since: resync.since, ref: resync.ref })
        } catch {
          this.#show(this.#rooms.resyncFailed(resync.ref))
        }
      }
      this.#show(show)
      return
    }
    const ref = 'ref' in frame ? frame.ref : undefined
    if (ref !== undefined) this.#requests.settle(String(ref), frame)
    if (frame.type === 'joined') {
      // The answer to a resume or to the client's own resync releases what it held.
      const { show, emit } = this.#rooms.joined(frame)
      if (emit) this.#emit('joined', frame)
      this.#show(show)
      return
    }
    if (frame.type === 'error' && typeof ref === 'string' && this.#rooms.isResync(ref)) {
      this.#show(this.#rooms.resyncFailed(ref))
    } else if (frame.type === 'left') {
      this.#rooms.left(frame.room)
    }
    this.#emit(frame.type as keyof ChatClientEvents, frame as never)
  }

  #show (events: RoomEvent[]): void {
    for (const e of events) this.#emit(e.type, e as never)
  }

  #raw (frame: Record<string, unknown>): void {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== 1) throw new Error('not connected')
    socket.send(JSON.stringify(frame))
  }

  #request<T extends ServerFrame> (frame: Record<string, unknown>, resendable: boolean): Promise<T> {
    if (this.#status === 'closed') return Promise.reject(new Error('not connected: call connect() first'))
    const ref = uuid()
    return this.#requests.add<T>(ref, JSON.stringify({ ...frame, ref }), resendable, (text) => {
      // Not open yet (connecting, or reconnecting): it waits for the socket.
      if (this.#status !== 'open' || this.#socket?.readyState !== 1) return false
      this.#socket.send(text)
      return true
    })
  }

  /** Joins a room; resolves with `joined`, rejects with the server's error. */
  async join (room: string): Promise<JoinedFrame> {
    return await this.#request<JoinedFrame>({ action: 'join', room }, false)
  }

  /** Leaves a room; resolves with `left`. */
  async leave (room: string): Promise<LeftFrame> {
    return await this.#request<LeftFrame>({ action: 'leave', room }, false)
  }

  /**
   * Sends a message; resolves with its `ack` (id and seq). If the connection drops first, it is
   * resent after the reconnect with the same `ref`: the server delivers it once either way.
   */
  async send (room: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    this.#typingDebounce.sent(room)
    return await this.#request<AckFrame>({ action: 'message', room, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, true)
  }

  /**
   * Sends a direct message to user `to`; resolves with its `ack`. It arrives, to every connection
   * of both users, as a `message` with the conversation's room and `to`; the conversation's room
   * is joined by itself (a `joined` event), so it is resumed after a reconnect like any room.
   * Resent after a reconnect with the same ref, as `send`.
   */
  async dm (to: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    return await this.#request<AckFrame>({ action: 'dm', to, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, true)
  }

  /**
   * Edits message `id` of `room` (yours, unless the server allows more); resolves with the
   * edit's `ack`. Without `meta` the message keeps its own. Not resent after a reconnect: an
   * edit that may not have arrived rejects, and the application decides.
   */
  async edit (room: string, id: string, content: string, options: { meta?: Meta } = {}): Promise<AckFrame> {
    return await this.#request<AckFrame>({ action: 'edit', room, id, content, ...(options.meta === undefined ? {} : { meta: options.meta }) }, false)
  }

  /** Deletes message `id` of `room`; resolves with the deletion's `ack`. */
  async delete (room: string, id: string): Promise<AckFrame> {
    return await this.#request<AckFrame>({ action: 'delete', room, id }, false)
  }

  /**
   * Says this user is typing in `room` (`on`, the default) or stopped: call it on every keystroke
   * and when the input is cleared. Debounced (one `true` per 3 s while typing, `false` after 5 s
   * without a keystroke; a message ends it). Best effort: nothing is sent while disconnected.
   */
  typing (room: string, on = true): void {
    this.#typingDebounce.typing(room, on)
  }

  /**
   * Watches users' online status: a `presence` event for each at once, then on every change
   * (watched again after a reconnect). Resolves with everyone watched; at most 100.
   */
  async watch (users: string[]): Promise<WatchingFrame> {
    const reply = await this.#request<WatchingFrame>({ action: 'watch', users }, false)
    for (const u of users) this.#watched.add(u)
    return reply
  }

  /** Stops watching users. */
  async unwatch (users: string[]): Promise<WatchingFrame> {
    for (const u of users) this.#watched.delete(u)
    return await this.#request<WatchingFrame>({ action: 'unwatch', users }, false)
  }

  /** Hands the server a fresh token before the current one expires. */
  async refresh (token: string): Promise<RefreshedFrame> {
    return await this.#request<RefreshedFrame>({ action: 'refresh', token }, false)
  }

  #fail (status: ChatClientStatus): void {
    this.#setStatus(status)
    this.#requests.failAll(new Error('the connection is closed'))
  }

  /** Closes for good (no reconnect). */
  close (): void {
    this.#closedByUser = true
    this.#typingDebounce.clear()
    clearTimeout(this.#timer)
    this.#socket?.close(1000)
    this.#fail('closed')
  }
}

/** Creates a client; call `connect()` to open it. */
export function createChatClient (options: ChatClientOptions): ChatClient {
  return new ChatClient(options)
}

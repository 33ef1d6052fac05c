/**
 * fastify-chat/client: a typed client for browsers and Node 20 (on the `ws` package where there
 * is no global WebSocket). Promise-returning join/leave/send that settle on the matching reply
 * (by `ref`), automatic reconnect with jittered backoff that rejoins its rooms with `since` (so
 * nothing is missed) and resends unacknowledged messages with their `ref` (so nothing is doubled),
 * and a hook to fetch a fresh token before each connection.
 */
import type {
  AckFrame, ErrorFrame, JoinedFrame, LeftFrame, MessageFrame, RefreshedFrame, ServerFrame,
  TokenExpiringFrame, UserJoinedFrame, UserLeftFrame, WelcomeFrame
} from '../protocol/schemas.js'
import { RoomTracker } from './room-tracker.js'

/** The events of a client: every server frame by its type, and the connection's own. */
export interface ChatClientEvents {
  welcome: WelcomeFrame
  joined: JoinedFrame
  userJoined: UserJoinedFrame
  left: LeftFrame
  userLeft: UserLeftFrame
  message: MessageFrame
  ack: AckFrame
  error: ErrorFrame
  tokenExpiring: TokenExpiringFrame
  refreshed: RefreshedFrame
  /** The socket opened (also after a reconnect). */
  open: { reconnect: boolean }
  /** The socket closed; `reconnecting` says whether the client will try again. */
  close: { code: number, reason: string, reconnecting: boolean }
  /** A reconnect is scheduled. */
  reconnecting: { attempt: number, delay: number }
  /** connecting, open, reconnecting, closed */
  status: ChatClientStatus
}

export type ChatClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** A server's error reply, as a rejection of the request that caused it. */
export class ChatRequestError extends Error {
  readonly code: string
  constructor (frame: ErrorFrame) {
    super(frame.message)
    this.name = 'ChatRequestError'
    this.code = frame.code
  }
}

/** The browser-style WebSocket the client needs (the global one, or the `ws` package's). */
interface SocketLike {
  readonly readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send (data: string): void
  close (code?: number, reason?: string): void
}
type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike

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
  /** Reconnect backoff, ms: from `minDelay`, times `factor`, up to `maxDelay`, +/- `jitter`; `false`: never. */
  reconnect?: { minDelay?: number, maxDelay?: number, factor?: number, jitter?: number } | false
  /** How long a request waits for its reply before it rejects, ms. Default 10000. */
  requestTimeout?: number
}

// Closes after which trying again cannot help: normal, policy, and application codes (a kick)
// but 4001 (token expired), which a fresh token mends.
function retryable (code: number, refreshable: boolean): boolean {
  if (code === 1000 || code === 1008) return false
  if (code === 4001) return refreshable
  return code < 4000 || code > 4999
}

function uuid (): string {
  const c = globalThis.crypto as { randomUUID?: () => string } | undefined
  if (c?.randomUUID !== undefined) return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`
}

interface Pending {
  resolve (frame: ServerFrame): void
  reject (err: Error): void
  timer: ReturnType<typeof setTimeout>
  /** What to resend after a reconnect (messages only: they are effectively-once by ref). */
  resend?: string
}

export class ChatClient {
  readonly #opts: ChatClientOptions
  readonly #listeners = new Map<keyof ChatClientEvents, Set<(payload: any) => void>>()
  readonly #pending = new Map<string, Pending>()
  /** Rooms this client is in, with the last seq and epoch seen: what a reconnect rejoins. */
  readonly #rooms = new RoomTracker()
  #socket: SocketLike | undefined
  #status: ChatClientStatus = 'closed'
  #closedByUser = false
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #clientId: string | undefined

  constructor (options: ChatClientOptions) {
    this.#opts = options
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

  /** Connects; resolves with `welcome`. */
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
    const query = this.#opts.transport === 'query'
    const url = query ? `${this.#opts.url}${this.#opts.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : this.#opts.url
    const socket = query ? new Ctor(url) : new Ctor(url, ['chat.v1', `bearer.${token}`])
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
        const again = !this.#closedByUser && this.#opts.reconnect !== false && retryable(ev.code, typeof this.#opts.token === 'function')
        this.#emit('close', { code: ev.code, reason: ev.reason, reconnecting: again })
        if (!welcomed) reject(new Error(`could not connect: ${ev.code} ${ev.reason}`))
        if (again) this.#scheduleReconnect()
        else this.#fail('closed')
      }
      socket.onerror = () => {}
    })
  }

  #scheduleReconnect (): void {
    this.#setStatus('reconnecting')
    const r = this.#opts.reconnect === false ? {} : this.#opts.reconnect ?? {}
    const min = r.minDelay ?? 250
    const max = r.maxDelay ?? 10_000
    const base = Math.min(max, min * (r.factor ?? 2) ** this.#attempt++)
    const jitter = r.jitter ?? 0.5
    const delay = Math.round(base * (1 - jitter / 2 + Math.random() * jitter))
    this.#emit('reconnecting', { attempt: this.#attempt, delay })
    this.#timer = setTimeout(() => {
      this.#open(true).catch(() => {}) // a failed attempt closes, which schedules the next
    }, delay)
  }

  /** After a reconnect: rejoin every room from the last seq seen, resend what was not acknowledged. */
  #resume (): void {
    for (const { room, ref, seq, epoch } of this.#rooms.resumePoints(uuid)) {
      this.#raw({ action: 'join', room, since: { seq, epoch }, ref })
    }
    for (const [ref, p] of this.#pending) {
      if (p.resend !== undefined) this.#socket!.send(p.resend)
      else { clearTimeout(p.timer); this.#pending.delete(ref); p.reject(new Error('the connection was lost before the reply')) }
    }
  }

  #frame (frame: ServerFrame): void {
    if (frame.type === 'message') {
      // Copies are dropped, and a hole is asked for again before anything after it is shown.
      const { show, resync } = this.#rooms.message(frame, uuid)
      if (resync !== undefined) {
        try {
          this.#raw({ action: 'join', room: resync.room, since: resync.since, ref: resync.ref })
        } catch {
          for (const m of this.#rooms.resyncFailed(resync.ref)) this.#emit('message', m)
        }
      }
      for (const m of show) this.#emit('message', m)
      return
    }
    const ref = 'ref' in frame ? frame.ref : undefined
    if (ref !== undefined) this.#settle(String(ref), frame)
    if (frame.type === 'joined') {
      // The answer to a resume or to the client's own resync releases what it held.
      const { show, emit } = this.#rooms.joined(frame)
      if (emit) this.#emit('joined', frame)
      for (const m of show) this.#emit('message', m)
      return
    }
    if (frame.type === 'error' && typeof ref === 'string' && this.#rooms.isResync(ref)) {
      for (const m of this.#rooms.resyncFailed(ref)) this.#emit('message', m)
    } else if (frame.type === 'left') {
      this.#rooms.left(frame.room)
    }
    this.#emit(frame.type as keyof ChatClientEvents, frame as never)
  }

  /** A reply settles the request that carried its ref. */
  #settle (ref: string, frame: ServerFrame): void {
    const p = this.#pending.get(ref)
    if (p === undefined) return
    this.#pending.delete(ref)
    clearTimeout(p.timer)
    if (frame.type === 'error') p.reject(new ChatRequestError(frame))
    else p.resolve(frame)
  }

  #raw (frame: Record<string, unknown>): void {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== 1) throw new Error('not connected')
    socket.send(JSON.stringify(frame))
  }

  #request<T extends ServerFrame> (frame: Record<string, unknown>, resendable: boolean): Promise<T> {
    const ref = uuid()
    const text = JSON.stringify({ ...frame, ref })
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref)
        reject(new Error(`no reply within ${this.#opts.requestTimeout ?? 10_000} ms`))
      }, this.#opts.requestTimeout ?? 10_000)
      this.#pending.set(ref, { resolve: resolve as (f: ServerFrame) => void, reject, timer, resend: resendable ? text : undefined })
      if (this.#socket?.readyState === 1) this.#socket.send(text)
      else if (!resendable) {
        this.#pending.delete(ref)
        clearTimeout(timer)
        reject(new Error('not connected'))
      }
      // A message waits for the reconnect, then goes with its ref (effectively once).
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
  async send (room: string, content: string): Promise<AckFrame> {
    return await this.#request<AckFrame>({ action: 'message', room, content }, true)
  }

  /** Hands the server a fresh token before the current one expires. */
  async refresh (token: string): Promise<RefreshedFrame> {
    return await this.#request<RefreshedFrame>({ action: 'refresh', token }, false)
  }

  #fail (status: ChatClientStatus): void {
    this.#setStatus(status)
    for (const [ref, p] of this.#pending) {
      clearTimeout(p.timer)
      this.#pending.delete(ref)
      p.reject(new Error('the connection is closed'))
    }
  }

  /** Closes for good (no reconnect). */
  close (): void {
    this.#closedByUser = true
    clearTimeout(this.#timer)
    this.#socket?.close(1000)
    this.#fail('closed')
  }
}

/** Creates a client; call `connect()` to open it. */
export function createChatClient (options: ChatClientOptions): ChatClient {
  return new ChatClient(options)
}

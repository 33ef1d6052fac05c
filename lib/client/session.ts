/**
 * The connection half of fastify-chat/client: open, reconnect with jittered backoff, resume every
 * room with `since`, resend what waited, and route each server frame to the tracker of its kind
 * (rooms, unread counts) and to the listeners.
 */
import type { ServerFrame, WelcomeFrame } from '../protocol/schemas.js'
import { Requests, retryDelay, type Route } from './requests.js'
import { RoomTracker, type RoomEvent, type Resync } from './room-tracker.js'
import { TypingDebounce } from './typing.js'
import { backoffDelay, openSocket, retryable, uuid, type Refusal, type SocketConstructor, type SocketLike } from './socket.js'
import type { ChatClientEvents, ChatClientOptions, ChatClientStatus } from './types.js'
import { UnreadCounts } from './unread.js'

/**
 * What a request waits for: a room's messages go one at a time (a direct conversation's too, by
 * its other user), a leave after the messages sent before it (else they would be refused
 * NOT_A_MEMBER, kept or not), and what a member does in a room waits while the room is resumed.
 */
function routeOf (frame: Record<string, unknown>): Route {
  const { action, room, to } = frame
  if ((action === 'message' || action === 'leave') && typeof room === 'string') return { room, lane: `room ${room}` }
  if (action === 'dm' && typeof to === 'string') return { lane: `dm ${to}` }
  if ((action === 'edit' || action === 'delete') && typeof room === 'string') return { room }
  return {}
}

/**
 * The client's session: the socket and its reconnects, replies by ref, rooms resumed with
 * `since`, and every frame routed to its events. `ChatClient` (index.ts) adds the requests.
 */
export class ChatSession {
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
  /** Resumes and resyncs waiting to be asked again. */
  readonly #retries = new Set<ReturnType<typeof setTimeout>>()
  #clientId: string | undefined
  #userId: string | undefined
  /** Each room's unread count. */
  protected readonly unreadCounts = new UnreadCounts()
  protected readonly typingDebounce = new TypingDebounce((room, on) => {
    // Best effort: dropped while disconnected.
    if (this.#status === 'open' && this.#socket?.readyState === 1) this.#socket.send(JSON.stringify({ action: 'typing', room, typing: on }))
  })

  /** Users watched: watched again after a reconnect. */
  protected readonly watched = new Set<string>()

  constructor (options: ChatClientOptions) {
    this.#opts = options
    this.#requests = new Requests(options.requestTimeout ?? 10_000, (room) => this.#rooms.ready(room))
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
    const url = typeof this.#opts.url === 'function' ? this.#opts.url() : this.#opts.url
    const socket = openSocket(Ctor, url, token, this.#opts.transport ?? 'subprotocol', (r) => { refusal = r })
    this.#socket = socket
    return await new Promise<WelcomeFrame>((resolve, reject) => {
      let welcomed = false
      socket.onmessage = (ev) => {
        const frame = JSON.parse(String(ev.data)) as ServerFrame
        if (frame.type === 'welcome' && !welcomed) {
          welcomed = true
          this.#clientId = frame.clientId
          this.#userId = frame.userId
          this.#attempt = 0
          this.#setStatus('open')
          this.#emit('open', { reconnect })
          resolve(frame)
          this.#resume(frame.defaultRoom)
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

  /**
   * After a (re)connect: rejoin every room from the last seq seen (the default room once the
   * server's own join of it shows something was missed), then send what waited.
   */
  #resume (defaultRoom: string | undefined): void {
    for (const resync of this.#rooms.resumePoints(uuid, defaultRoom)) this.#resync(resync)
    if (this.watched.size > 0) this.#raw({ action: 'watch', users: [...this.watched] })
    this.#requests.opened((text) => this.#socket!.send(text))
  }

  /**
   * Sends a `join` with `since`. One that cannot be sent (the socket is down) waits: the
   * reconnect resumes the room from the last seq shown.
   */
  #resync ({ room, ref, since }: Resync): void {
    try {
      this.#raw({ action: 'join', room, since, ref })
    } catch {}
  }

  /** A resume or resync the server could not answer now is asked again later; one it refused ends. */
  #resyncAnswered (ref: string, code: string): void {
    const again = code === 'UNAVAILABLE' || code === 'RATE_LIMITED' ? this.#rooms.retryResync(ref, uuid) : undefined
    if (again === undefined) {
      this.#show(this.#rooms.resyncFailed(ref))
      return
    }
    const timer = setTimeout(() => {
      this.#retries.delete(timer)
      if (this.#rooms.isResync(again.ref)) this.#resync(again)
    }, retryDelay(again.tries - 1))
    this.#retries.add(timer)
  }

  #frame (frame: ServerFrame): void {
    if (frame.type === 'message' || frame.type === 'edited' || frame.type === 'deleted') {
      // Copies are dropped, and a hole is asked for again before anything after it is shown.
      const { show, resync } = this.#rooms.message(frame, uuid)
      for (const e of show) this.#count(e)
      if (resync !== undefined) this.#resync(resync)
      this.#show(show)
      return
    }
    const ref = 'ref' in frame ? frame.ref : undefined
    if (ref !== undefined) this.#requests.settle(String(ref), frame)
    if (frame.type === 'joined') {
      // The answer to a resume or to the client's own resync releases what it held.
      const { show, emit, recovered, resume, missed } = this.#rooms.joined(frame, uuid)
      this.unreadCounts.joined(frame)
      if (emit) this.#emit('joined', recovered === true ? { ...frame, recovered } : frame)
      if (missed !== undefined) this.#emit('missed', missed)
      if (resume !== undefined) this.#resync(resume)
      this.#emit('unread', { room: frame.room, unread: this.unreadCounts.count(frame.room) })
      for (const e of show) this.#count(e)
      this.#show(show)
      // A resumed room's requests may go now.
      this.#requests.pump()
      return
    }
    if (frame.type === 'error' && typeof ref === 'string' && this.#rooms.isResync(ref)) {
      this.#resyncAnswered(ref, frame.code)
      this.#requests.pump()
    } else if (frame.type === 'error' && ref === undefined && frame.code === 'UNAVAILABLE') {
      // The server could not join this connection to its default room: resume it ourselves.
      for (const resync of this.#rooms.defaultJoinFailed(uuid)) this.#resync(resync)
    } else if (frame.type === 'left') {
      this.#rooms.left(frame.room)
      this.unreadCounts.left(frame.room)
      this.#requests.pump()
    } else if (frame.type === 'read' && frame.userId === this.#userId) {
      this.readTo(frame.room, frame.seq)
    } else if (frame.type === 'presenceDiff') {
      // A batch of presence changes: also told one by one, as userJoined and userLeft (not this
      // connection's own join, which it is never told alone either).
      this.#emit('presenceDiff', frame)
      for (const change of frame.changes) {
        if (change.type === 'userJoined' && change.clientId === this.#clientId) continue
        this.#emit(change.type, { ...change, room: frame.room } as never)
      }
      return
    }
    this.#emit(frame.type as keyof ChatClientEvents, frame as never)
  }

  /** A message by someone else counts as unread; a deletion of one no longer does. */
  #count (e: RoomEvent): void {
    const changed = e.type === 'message' ? this.unreadCounts.message(e, this.#userId) : e.type === 'deleted' && this.unreadCounts.deleted(e)
    if (changed) this.#emit('unread', { room: e.room, unread: this.unreadCounts.count(e.room) })
  }

  /** This user's marker in `room` moved to `seq` (here or on another device). */
  protected readTo (room: string, seq: number): void {
    if (this.unreadCounts.read(room, seq)) this.#emit('unread', { room, unread: this.unreadCounts.count(room) })
  }

  /** The newest seq seen in `room` (0: none, or not joined). */
  protected lastSeq (room: string): number {
    return this.#rooms.seq(room)
  }

  #show (events: RoomEvent[]): void {
    for (const e of events) this.#emit(e.type, e as never)
  }

  #raw (frame: Record<string, unknown>): void {
    const socket = this.#socket
    if (socket === undefined || socket.readyState !== 1) throw new Error('not connected')
    socket.send(JSON.stringify(frame))
  }

  protected request<T extends ServerFrame> (frame: Record<string, unknown>, resendable: boolean): Promise<T> {
    if (this.#status === 'closed') return Promise.reject(new Error('not connected: call connect() first'))
    const ref = uuid()
    return this.#requests.add<T>(ref, JSON.stringify({ ...frame, ref }), resendable, (text) => {
      // Not open yet (connecting, or reconnecting): it waits for the socket.
      if (this.#status !== 'open' || this.#socket?.readyState !== 1) return false
      this.#socket.send(text)
      return true
    }, routeOf(frame))
  }

  #fail (status: ChatClientStatus): void {
    this.#setStatus(status)
    this.#requests.failAll(new Error('the connection is closed'))
  }

  /** Closes for good (no reconnect). */
  close (): void {
    this.#closedByUser = true
    this.typingDebounce.clear()
    clearTimeout(this.#timer)
    for (const t of this.#retries) clearTimeout(t)
    this.#retries.clear()
    this.#socket?.close(1000)
    this.#fail('closed')
  }
}

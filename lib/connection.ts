/**
 * One client socket: its identity, a safe `send`, backpressure, heartbeat state and closing.
 * The only module that touches `ws`: everything above it speaks in connections and strings.
 */
import { randomUUID } from 'node:crypto'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { CloseCode, MAX_PENDING_FRAMES } from './constants.js'
import type { RateLimiter } from './rate-limit.js'
import type { ChatUser } from './types.js'

// ws.readyState values, named here so nothing else needs ws.
const OPEN = 1

export interface ConnectionEvents {
  /** A frame arrived (text or binary). Called synchronously from the socket's 'message' event. */
  onFrame (connection: Connection, data: RawData, isBinary: boolean): void
  /** The socket closed, for whatever reason; called once. */
  onClose (connection: Connection, code: number): void
  /** A scheduled task threw: a bug, not a client error. */
  onTaskError (connection: Connection, error: unknown): void
}

/** One unit of this connection's work: handling a frame, or a host's join/leave on it. */
export type Task = () => Promise<void> | void

/**
 * `injectWS` runs a socket over an in-memory duplex that, unlike a `net.Socket`, does not destroy
 * itself once both directions have ended, so `ws` would wait its 30 s close timeout for a 'close'
 * that never comes and a host's tests would see members that already left. Destroy it as a TCP
 * socket would. Real sockets are left alone.
 */
function settleInMemoryTransport (socket: WebSocket): void {
  const transport = (socket as unknown as { _socket?: Duplex })._socket
  if (transport === undefined || transport instanceof Socket) return
  let ended = 0
  const settle = (): void => { if (++ended === 2) transport.destroy() }
  transport.once('end', settle)
  transport.once('finish', settle)
}

export class Connection {
  /** Unique to this connection, also across processes (a random UUID). */
  readonly id: string = randomUUID()
  readonly userId: string
  readonly user: ChatUser
  readonly log: FastifyBaseLogger
  /** The connection's token bucket, if rate limiting is on. */
  readonly limiter: RateLimiter | undefined
  /** Whether the peer answered the last ping. */
  alive = true
  /** Set once the socket is closing or closed: nothing more is sent. */
  closed = false
  // Tasks waiting while an earlier one is in flight (an async registry call).
  readonly #pending: Task[] = []
  #busy = false
  readonly #events: ConnectionEvents

  readonly #socket: WebSocket
  readonly #maxBuffered: number

  constructor (
    socket: WebSocket,
    user: ChatUser,
    log: FastifyBaseLogger,
    limiter: RateLimiter | undefined,
    maxBuffered: number,
    events: ConnectionEvents
  ) {
    this.#socket = socket
    this.user = user
    this.userId = user.sub
    this.limiter = limiter
    this.#maxBuffered = maxBuffered
    this.#events = events
    this.log = log.child({ clientId: this.id, userId: this.userId })
    // Listeners are attached synchronously, before any await, so no frame is missed.
    socket.on('message', (data, isBinary) => events.onFrame(this, data, isBinary))
    socket.on('pong', () => { this.alive = true })
    socket.once('close', (code) => {
      this.closed = true
      events.onClose(this, code)
    })
    settleInMemoryTransport(socket)
  }

  /**
   * Sends one text frame. A Buffer is sent as is (a broadcast encodes its frame once and hands
   * every member the same Buffer). A reader that lets more than `maxBufferedAmount` bytes pile up
   * is closed with 1008: one slow client must not make the server hold a room's traffic.
   */
  send (data: string | Buffer): boolean {
    const socket = this.#socket
    if (this.closed || socket.readyState !== OPEN) return false
    if (socket.bufferedAmount > this.#maxBuffered) {
      this.log.warn({ bufferedAmount: socket.bufferedAmount }, 'closing a client too slow to read its frames')
      this.close(CloseCode.POLICY, 'too slow: frames are piling up')
      return false
    }
    socket.send(data, { binary: false })
    return true
  }

  /**
   * Runs `task` after every task scheduled before it has settled: a connection's requests are
   * handled one at a time, in order, so that `joined` always precedes the messages of the room
   * even when the registry answers asynchronously. Returns false (and drops the task) when the
   * connection is closed or already has MAX_PENDING_FRAMES waiting.
   */
  schedule (task: Task): boolean {
    if (this.closed) return false
    if (this.#busy) {
      if (this.#pending.length >= MAX_PENDING_FRAMES) return false
      this.#pending.push(task)
      return true
    }
    this.#run(task)
    return true
  }

  #run (task: Task): void {
    this.#busy = true
    let result: Promise<void> | void
    try {
      result = task()
    } catch (err) {
      this.#fail(err)
      return
    }
    if (result === undefined) this.#next()
    else result.then(this.#next, (err: unknown) => this.#fail(err))
  }

  readonly #next = (): void => {
    this.#busy = false
    const task = this.#pending.shift()
    if (task !== undefined && !this.closed) this.#run(task)
  }

  #fail (err: unknown): void {
    this.#busy = false
    this.#pending.length = 0
    this.#events.onTaskError(this, err)
  }

  /** Calls `listener` once the socket has fully closed (at once if it already has). */
  onceClosed (listener: () => void): void {
    if (this.#socket.readyState === 3) listener()
    else this.#socket.once('close', () => listener())
  }

  /** Starts the closing handshake; idempotent. */
  close (code: number, reason = ''): void {
    if (this.#socket.readyState >= 2) return
    this.closed = true
    this.#socket.close(code, reason)
  }

  /** Cuts the socket at once, with no handshake (a dead peer, or the end of the shutdown grace). */
  terminate (): void {
    this.closed = true
    this.#socket.terminate()
  }

  /** Sends a ping; the peer's pong marks it alive. */
  ping (): void {
    if (this.#socket.readyState !== OPEN) return
    this.alive = false
    this.#socket.ping()
  }

  /** Whether the socket has fully closed. */
  get isClosed (): boolean {
    return this.#socket.readyState === 3
  }
}

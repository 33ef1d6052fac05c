/**
 * One client socket: its identity, a safe send with backpressure and per-turn coalescing, slow
 * consumers, heartbeat state, its task queue and closing. The only module that holds a `ws`
 * socket (its private parts are in ws-internals.ts): everything above it speaks in connections,
 * strings and pre-built frames.
 */
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { CloseCode, SLOW_CONSUMER_GRACE_MS, SLOW_CONSUMER_MS } from '../constants.js'
import { Restrictions } from '../core/restrictions.js'
import type { ChatUser, Restriction } from '../model.js'
import { payloadOf, textFrame, type Frame } from '../protocol/frame.js'
import type { RateLimiter } from './rate-limit.js'
import { SerialTasks } from './task-queue.js'
import { flushAtEndOfTurn } from './turn.js'
import { bufferedAmount, rawTransport, releaseUpgrade } from './ws-internals.js'

// ws.readyState values, named here so that nothing else needs ws.
const OPEN = 1
const CLOSED = 3

/** What arrives from a socket: text or binary data, in the shapes ws hands it over. */
export type IncomingData = Buffer | ArrayBuffer | Buffer[]

export interface ConnectionEvents {
  /** A frame arrived (text or binary). Called synchronously from the socket's 'message' event. */
  onFrame (connection: Connection, data: IncomingData, isBinary: boolean): void
  /** The socket closed, for whatever reason; called once. */
  onClose (connection: Connection, code: number): void
  /** A scheduled task threw: a bug, not a client error. */
  onTaskError (connection: Connection, error: unknown): void
  /** The connection is a slow consumer: it is being closed (1013) and must leave its rooms now. */
  onSlow (connection: Connection): void
}

// Listeners shared by every socket (`this` is the socket), so that a connection costs no closures.
const kConnection = Symbol('fastify-chat.connection')
type Tagged = WebSocket & { [kConnection]: Connection }
function onMessage (this: WebSocket, data: IncomingData, isBinary: boolean): void {
  const conn = (this as Tagged)[kConnection]
  conn.events.onFrame(conn, data, isBinary)
}
function onPong (this: WebSocket): void {
  (this as Tagged)[kConnection].alive = true
}
function onClose (this: WebSocket, code: number): void {
  const conn = (this as Tagged)[kConnection]
  conn.markClosed()
  conn.events.onClose(conn, code)
}
function onError (this: WebSocket, err: Error): void {
  // ws follows every error with 'close', where the connection is cleaned up.
  (this as Tagged)[kConnection].debug({ err }, 'socket error')
}

/** A connection's rooms before its first join (shared, never written: a join makes a new array). */
const NO_ROOMS: readonly string[] = Object.freeze([])

/** What every connection of a plugin shares: kept once, pointed at from each connection. */
export interface ConnectionShared {
  /** The plugin's logger; a connection's child logger is made on first use. */
  log: FastifyBaseLogger
  maxBuffered: number
  /** The slow-consumer high-water mark, bytes. */
  highWater: number
  events: ConnectionEvents
}

export interface ConnectionOptions {
  /** Unique across every process (the hub makes it: its process id, a dot, random bits). */
  id: string
  user: ChatUser
  /** Id of the upgrade request, for the logs. */
  reqId: string
  /** The client's address (Fastify's `request.ip`, which honours `trustProxy`); '' when no per-IP limit is on. */
  ip: string
  limiter: RateLimiter | undefined
  shared: ConnectionShared
  /** The user's bans and mutes in force when it was admitted. */
  restrictions?: Restriction[]
}

export class Connection extends SerialTasks {
  /** Unique to this connection, also across processes. */
  readonly id: string
  readonly userId: string
  /** The client's address at the upgrade ('' when no per-IP limit is on: it is not read). */
  readonly ip: string
  /** The token's claims; a `refresh` replaces them (same `sub`). */
  user: ChatUser
  /** The connection's token bucket, if rate limiting is on. */
  readonly limiter: RateLimiter | undefined
  /** Whether the peer answered the last ping. */
  alive = true
  /** Set once the socket is closing or closed: nothing more is sent, no task runs. */
  closed = false
  /** The user's bans and mutes this connection enforces (none: undefined, to keep idle sockets small). */
  restrictions: Restrictions | undefined
  /** TokenExpiry's: the second (since the epoch) its next deadline falls in; undefined: none. */
  expiryBucket: number | undefined = undefined
  /** The rooms it is in, kept by the membership (the array is replaced on each change: safe to iterate while leaving). */
  rooms: readonly string[] = NO_ROOMS

  readonly #socket: WebSocket
  // The transport under ws, written directly with pre-built frames; undefined when ws must frame.
  readonly #raw: Duplex | undefined
  /** The plugin's logger, limits and event handlers (one object for all connections). */
  readonly #shared: ConnectionShared
  /** Since when the unsent bytes have been over the high-water mark (undefined: they are not). */
  #overSince: number | undefined
  // This turn's frames: none, one, or several.
  #queue: Frame | Frame[] | undefined
  #log: FastifyBaseLogger | undefined
  readonly #reqId: string

  constructor (socket: WebSocket, options: ConnectionOptions) {
    super()
    this.id = options.id
    this.#socket = socket
    this.user = options.user
    this.userId = options.user.sub
    this.ip = options.ip
    this.limiter = options.limiter
    if (options.restrictions !== undefined && options.restrictions.length > 0) this.restrictions = new Restrictions(options.restrictions)
    this.#shared = options.shared
    this.#reqId = options.reqId
    this.#raw = rawTransport(socket)

    const tagged = socket as Tagged
    tagged[kConnection] = this
    releaseUpgrade(socket, this.#raw, onError)
    // Attached synchronously, before any await, so no frame is missed.
    socket.on('message', onMessage)
    socket.on('pong', onPong)
    socket.on('close', onClose)
  }

  /** Nothing more is sent and no task runs from now on. */
  markClosed (): void {
    this.closed = true
    this.stopTasks()
  }

  get events (): ConnectionEvents {
    return this.#shared.events
  }

  protected taskFailed (error: unknown): void {
    this.events.onTaskError(this, error)
  }

  /** A child logger with `clientId`, `userId` and `reqId`, made on first use. */
  get log (): FastifyBaseLogger {
    this.#log ??= this.#shared.log.child({ reqId: this.#reqId, clientId: this.id, userId: this.userId })
    return this.#log
  }

  /**
   * Logs at debug level through the connection's child logger, without making that child (a cost
   * in CPU and memory for every connection) when debug is off.
   */
  debug (obj: object, msg: string): void {
    const base = this.#shared.log
    const isLevelEnabled = (base as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled
    if (isLevelEnabled !== undefined && !isLevelEnabled.call(base, 'debug')) return
    this.log.debug(obj, msg)
  }

  /** Sends one text message (encoded and framed for this socket alone). */
  send (data: string): boolean {
    return this.sendFrame(textFrame(data))
  }

  /**
   * Writes a pre-built frame, coalesced with the other frames of this turn. A slow consumer is
   * checked on every send: a socket whose unsent bytes stay over `slowConsumerHighWaterMark` for
   * more than SLOW_CONSUMER_MS, or ever exceed `maxBufferedAmount`, is a slow consumer (one client
   * must not make the server hold a room's traffic).
   */
  sendFrame (frame: Frame): boolean {
    if (this.closed) return false
    const socket = this.#socket
    if (socket.readyState !== OPEN) return false
    const raw = this.#raw
    const buffered = bufferedAmount(socket, raw)
    if (buffered > this.#shared.highWater) {
      if (this.#isSlow(buffered)) return false
    } else if (this.#overSince !== undefined) {
      this.#overSince = undefined
    }
    if (raw === undefined) {
      socket.send(payloadOf(frame), { binary: false })
      return true
    }
    const queue = this.#queue
    if (queue === undefined) {
      // Coalescing: this turn's frames are written together at its end (turn.ts).
      this.#queue = frame
      flushAtEndOfTurn(this)
    } else if (Array.isArray(queue)) {
      queue.push(frame)
    } else {
      this.#queue = [queue, frame]
    }
    return true
  }

  /** Writes this turn's frames (called at the end of the turn, and before a close or a ping). */
  flush (): void {
    const queue = this.#queue
    if (queue === undefined) return
    this.#queue = undefined
    const raw = this.#raw!
    // Closing: ws has written (or is writing) its close frame; nothing may follow it.
    if (this.#socket.readyState !== OPEN) return
    if (!Array.isArray(queue)) {
      raw.write(queue)
      return
    }
    raw.cork()
    for (let i = 0; i < queue.length; i++) raw.write(queue[i])
    raw.uncork()
  }

  /** Over the high-water mark: is it a slow consumer yet? (If so, it is being let go.) */
  #isSlow (buffered: number): boolean {
    const now = Date.now()
    if (buffered <= this.#shared.maxBuffered) {
      if (this.#overSince === undefined) this.#overSince = now
      if (now - this.#overSince <= SLOW_CONSUMER_MS) return false
    }
    this.log.warn({ bufferedAmount: buffered }, 'slow consumer: leaving its rooms and closing with 1013')
    // Nothing more is sent; the close frame waits behind what is buffered, for a client that
    // starts reading again; one that does not within SLOW_CONSUMER_GRACE_MS is cut.
    this.markClosed()
    this.events.onSlow(this)
    this.#socket.close(CloseCode.SLOW_CONSUMER, 'slow consumer')
    const timer = setTimeout(() => this.#socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref()
    this.#socket.once('close', () => clearTimeout(timer))
    return true
  }

  /** Called by the heartbeat: a consumer over the high-water mark is judged even when nothing is sent. */
  checkSlow (): void {
    if (this.closed || this.#socket.readyState !== OPEN) return
    const buffered = bufferedAmount(this.#socket, this.#raw)
    if (buffered > this.#shared.highWater) this.#isSlow(buffered)
    else this.#overSince = undefined
  }

  /** Calls `listener` once the socket has fully closed (at once if it already has). */
  onceClosed (listener: () => void): void {
    if (this.#socket.readyState === CLOSED) listener()
    else this.#socket.once('close', () => listener())
  }

  /** Starts the closing handshake after the frames already sent; idempotent. */
  close (code: number, reason = ''): void {
    if (this.#socket.readyState >= 2) return
    this.flush()
    this.markClosed()
    this.#socket.close(code, reason)
  }

  /** Cuts the socket at once, with no handshake (a dead peer, or the end of the shutdown grace). */
  terminate (): void {
    this.markClosed()
    this.#socket.terminate()
  }

  /** Sends a ping; the peer's pong marks it alive. */
  ping (): void {
    if (this.#socket.readyState !== OPEN) return
    this.alive = false
    this.flush()
    this.#socket.ping()
  }

  /** Whether the socket has fully closed. */
  get isClosed (): boolean {
    return this.#socket.readyState === CLOSED
  }
}

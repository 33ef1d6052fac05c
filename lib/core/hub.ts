/**
 * The chat core: the open connections, membership changes with the notifications they cause,
 * messages on their way to the adapter, and delivery of encoded frames to local sockets. It is the
 * adapter's `AdapterNode`. It knows neither `ws` (that is `Connection`) nor HTTP (the routes), and
 * `app.chat` is a facade over it (chat-api.ts).
 */
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { AdapterNode, ChatAdapter, LeaveState, RemoteCommand, RemoteResult, Resume, RoomState } from '../adapter/contract.js'
import type { Admission } from '../admission.js'
import { CloseCode } from '../constants.js'
import type { ChatStats, HistoryLimits, LeaveReason } from '../model.js'
import type { ResolvedOptions } from '../options.js'
import type { JoinOutcome } from '../outcomes.js'
import type { Ref, ServerFrame, WelcomeFrame } from '../protocol/schemas.js'
import { TokenExpiry } from '../token-expiry.js'
import type { Connection } from '../transport/connection.js'
import type { ChatStore } from '../store/contract.js'
import { Admitted, random96, type AdmitResult } from './admitted.js'
import { applyTold, inQueue } from './commands.js'
import { Watches } from './watches.js'
import { Direct } from './direct.js'
import { Typing } from './typing.js'
import { ReadMarkers } from './reads.js'
import { Delivery, type LocalMember } from './delivery.js'
import { ChatEvents } from './events.js'
import { closeAll, Heartbeat } from './heartbeat.js'
import { Hooks } from './hooks.js'
import { Membership } from './membership.js'
import { Messages } from './messages.js'
import { Rooms } from './rooms.js'
import { StoreLink } from './store-link.js'

export class ChatHub implements AdapterNode {
  /** This process's id in the chat: its clientIds start with it, so any process can tell their holder. */
  readonly id = randomBytes(8).toString('base64url')
  readonly membership = new Membership<LocalMember>((member) => member.conn)
  readonly connections = new Map<string, Connection>()
  readonly expiry: TokenExpiry
  /** The host's `app.chat.on` listeners. */
  readonly events: ChatEvents
  readonly messages: Messages

  readonly #opts: ResolvedOptions
  readonly #admission: Admission
  readonly #log: FastifyBaseLogger
  readonly #delivery: Delivery
  /** Who watches whose presence here. */
  readonly watches: Watches
  /** Direct conversations: their rooms and participants. */
  readonly direct: Direct
  /** Who is typing where. */
  readonly typing: Typing
  /** How far each user has read. */
  readonly reads: ReadMarkers
  readonly #rooms: Rooms
  readonly #heartbeat = new Heartbeat()
  #adapter: ChatAdapter | undefined
  #link: StoreLink | undefined
  readonly #admitted = new Admitted(() => this.adapter, () => this.connections.values())
  #messagesIn = 0
  #closing = false
  // Removals of closed connections still telling the adapter: close() waits for them, so that a
  // graceful shutdown has removed this process's members (and said so) before it resolves.
  readonly #removals = new Set<Promise<void>>()

  constructor (opts: ResolvedOptions, admission: Admission, log: FastifyBaseLogger) {
    this.#opts = opts
    this.#admission = admission
    this.#log = log
    this.events = new ChatEvents(log)
    this.messages = new Messages(opts, () => this.adapter, () => this.#link, this.events, new Hooks(opts, log))
    this.#delivery = new Delivery(this.membership, async (room, seq, epoch) => await this.since(room, seq, epoch), log)
    this.direct = new Direct(() => this.adapter,
      async (clientId, cmd) => await this.command(clientId, cmd),
      async (conn, room) => { if (!this.membership.has(room, conn.id)) await this.joinRoom(conn, room) })
    this.typing = new Typing({ ttl: opts.typingTtl, presenceLimit: opts.presenceLimit, adapter: () => this.adapter, membership: this.membership, send: (conn, text) => this.#delivery.sendText(conn, text) })
    this.reads = new ReadMarkers(this, opts)
    this.watches = new Watches(() => this.adapter, (conn, text) => this.#delivery.sendText(conn, text), opts.canSeePresence)
    this.#rooms = new Rooms(opts, this.membership, this.#delivery, {
      adapter: () => this.adapter,
      since: async (room, seq, epoch) => await this.since(room, seq, epoch),
      joinState: async (room, state) => await this.#joinState(room, state),
      events: this.events,
      log,
      participants: async (room) => await this.direct.participants(room),
      typing: () => this.typing,
      reads: () => this.reads
    })
    this.expiry = new TokenExpiry(opts.tokenExpiringLead, opts.expiryGrace, (conn, left) => this.send(conn, { type: 'tokenExpiring', in: left }))
  }

  /** The adapter, made by its factory with this hub as its node (once, at start). */
  get adapter (): ChatAdapter {
    if (this.#adapter === undefined) throw new Error('fastify-chat: the adapter is not ready yet')
    return this.#adapter
  }

  set adapter (adapter: ChatAdapter) {
    if (this.#adapter !== undefined) throw new Error('fastify-chat: the adapter is already set')
    this.#adapter = adapter
  }

  /** The store, made by its factory (once, at start), if the host configured one. */
  useStore (store: ChatStore): void {
    if (this.#link !== undefined) throw new Error('fastify-chat: the store is already set')
    this.#link = new StoreLink(store, () => this.adapter, this.#opts.history.ttl, this.#log)
  }

  /** The store, if any. */
  get link (): StoreLink | undefined {
    return this.#link
  }

  /** The events after `seq` of `epoch`: the hot window's, else (with a store) the store's. */
  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const link = this.#link
    if (link === undefined) return await this.adapter.since(room, seq, epoch)
    return await link.since(room, seq, epoch, async () => await this.adapter.since(room, seq, epoch))
  }

  async #joinState (room: string, state: RoomState): Promise<RoomState> {
    return this.#link === undefined ? state : await this.#link.joinState(room, state, this.position(room))
  }

  get closing (): boolean {
    return this.#closing
  }

  /** Starts pinging every connection; a connection that has not answered the previous ping is terminated. */
  startHeartbeat (): void {
    this.#heartbeat.start(this.#opts.heartbeatInterval, () => this.connections.values(), (conn) => this.remove(conn, 'timeout'))
  }

  /** Counts one frame received from a client. */
  countIn (): void {
    this.#messagesIn++
  }

  /** Sends one frame to one connection. */
  send (conn: Connection, frame: ServerFrame): void {
    this.#delivery.send(conn, frame)
  }

  /** AdapterNode: an encoded frame for this process's members of a room (checked for holes and copies). */
  deliver (room: string, text: string, except?: string, seq?: number, epoch?: string): void {
    this.#delivery.room(room, text, except, seq, epoch)
  }

  /** AdapterNode: the last seq delivered in a room here, and its epoch. */
  position (room: string): { seq: number, epoch: string } | undefined {
    return this.#delivery.feeds.position(room)
  }

  /** AdapterNode: the transport may have dropped frames; read back what the rooms missed. */
  resync (room?: string): void {
    this.#delivery.feeds.resync(room)
  }

  /** AdapterNode: the history limits. */
  get history (): HistoryLimits {
    return this.#opts.history
  }

  /** A new clientId: this process's id, a dot, and 96 random bits (from a pool: one call to the CSPRNG per 256 ids). */
  newClientId (): string {
    return `${this.id}.${random96()}`
  }

  /** Before an upgrade: see Admitted.admit. */
  async admit (userId: string): Promise<AdmitResult> {
    return await this.#admitted.admit(userId, this.newClientId(), this.#opts.maxConnectionsPerUser)
  }

  /** A newly opened, authenticated connection: welcome it and put it in the default room. */
  async open (conn: Connection): Promise<void> {
    if (this.#closing) {
      conn.close(CloseCode.GOING_AWAY, 'server shutting down')
      return
    }
    this.connections.set(conn.id, conn)
    const told = this.#admitted.opened(conn.id)
    this.#admission.opened(conn.ip)
    // Bans and mutes made since its admission, before it says or joins anything: a ban of the
    // whole chat closes it (its removal gives the place back).
    if (told !== undefined && !applyTold(conn, told)) return
    const welcome: WelcomeFrame = { type: 'welcome', message: 'Connected to chat server', clientId: conn.id, userId: conn.userId }
    // Named, so that a reconnecting client resumes it only if this join shows it missed something.
    if (this.#opts.defaultRoom !== false) welcome.defaultRoom = this.#opts.defaultRoom
    this.send(conn, welcome)
    this.events.emit('connected', { clientId: conn.id, userId: conn.userId, user: conn.user })
    this.expiry.arm(conn, conn.user.exp)
    conn.debug({}, 'connected')
    // Recording the connection and joining the default room go to the backend together: one
    // round trip of waiting, not two.
    const recorded = this.adapter.connect(conn.id, conn.userId).catch((err: unknown) => {
      // Not fatal: the socket works locally, and an adapter that lost its backend rewrites its
      // clients when the backend is back.
      conn.log.warn({ err }, 'could not record the connection in the adapter')
    })
    try {
      if (this.#opts.defaultRoom !== false) await this.joinRoom(conn, this.#opts.defaultRoom)
    } finally {
      await recorded
    }
  }

  /** Joins `conn` to `room` (see Rooms.join). */
  async joinRoom (conn: Connection, room: string, ref?: Ref, since?: { seq: number, epoch: string }): Promise<JoinOutcome> {
    return await this.#rooms.join(conn, room, ref, since)
  }

  /** Takes `conn` out of `room` (see Rooms.leave). */
  async leaveRoom (conn: Connection, room: string, reason: LeaveReason, ref?: Ref): Promise<boolean> {
    return await this.#rooms.leave(conn, room, reason, ref)
  }

  /** A connection is gone (socket closed, or a missed pong): it leaves all its rooms. Idempotent. */
  remove (conn: Connection, reason: 'closed' | 'timeout'): void {
    if (!this.connections.delete(conn.id)) return
    this.#admission.closed(conn.ip)
    this.expiry.clear(conn)
    this.watches.closed(conn)?.catch((err: unknown) => conn.log.warn({ err }, 'could not stop watching'))
    const rooms = conn.rooms
    conn.debug({ reason, rooms: rooms.length }, 'disconnected')
    this.events.emit('disconnected', { clientId: conn.id, userId: conn.userId, reason, user: conn.user })
    const leaveAll = async (): Promise<void> => {
      for (const room of rooms) {
        try {
          await this.leaveRoom(conn, room, reason)
        } catch (err) {
          // The backend is unreachable: the local membership is already right, and the adapter
          // rewrites this process's members when the backend is back.
          conn.log.warn({ err, room }, 'could not record leaving a room')
        }
      }
      await this.adapter.disconnect(conn.id, conn.userId)
    }
    const removal = leaveAll()
      .catch((err: unknown) => conn.log.warn({ err }, 'could not record the disconnection in the adapter'))
      .finally(() => this.#removals.delete(removal))
    this.#removals.add(removal)
  }

  /** AdapterNode: this process's counters. */
  stats (): ChatStats {
    return {
      connections: this.connections.size,
      rooms: this.membership.roomCount,
      members: this.membership.memberCount,
      messagesIn: this.#messagesIn,
      messagesOut: this.#delivery.sent
    }
  }

  /**
   * Closes every socket with 1001 and waits for their closing handshakes, cutting the ones that
   * have not finished after CLOSE_GRACE_MS. New connections are turned away from now on.
   */
  async shutdown (): Promise<void> {
    this.#closing = true
    this.#heartbeat.stop()
    await closeAll([...this.connections.values()], this.#log)
  }

  /** Last step of `app.close()`: forget everything and release the adapter. */
  async close (): Promise<void> {
    this.#closing = true
    this.#heartbeat.stop()
    await Promise.all(this.#removals)
    this.connections.clear()
    this.#admitted.clear()
    this.expiry.clearAll()
    this.#admission.clear()
    this.membership.clear()
    this.#delivery.feeds.close()
    this.typing.close()
    this.reads.close()
    this.#rooms.close()
    // Commits under way are handed to the adapter before it goes.
    await this.#link?.close()
    this.events.clear()
    await this.#adapter?.close()
  }

  /**
   * AdapterNode: a command on a local client, run in its queue after its own requests. A client
   * admitted here but still opening keeps a ban or mute (or its lifting) for its open.
   */
  async execute (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    if (this.#closing) return 'not-found'
    const conn = this.connections.get(clientId)
    if (conn !== undefined) return await inQueue(this, conn, command)
    if ((command.op === 'restrict' || command.op === 'lift') && this.#admitted.tell(clientId, command)) return 'done'
    return 'not-found'
  }

  /** A command on any client: run here if this process holds it (open, or admitted and opening), else through the adapter. */
  async command (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    return this.connections.has(clientId) || this.#admitted.has(clientId) ? await this.execute(clientId, command) : await this.adapter.command(clientId, command)
  }

  /** AdapterNode: every local client. */
  * localClients (): Iterable<{ clientId: string, userId: string }> {
    for (const conn of this.connections.values()) yield { clientId: conn.id, userId: conn.userId }
  }

  /** AdapterNode: a room's signal from some process (typing). */
  signal (room: string, data: string): void {
    this.typing.signal(room, data)
  }

  /** AdapterNode: a watched user came online or went offline. */
  presenceChanged (userId: string, online: boolean, lastSeen: number | undefined): void {
    this.watches.changed(userId, online, lastSeen)
  }

  /** AdapterNode: a member removed by the adapter (its process died): tell the room. */
  lost (room: string, member: { clientId: string, userId: string, name?: string }, state: LeaveState, reason: LeaveReason): void {
    this.#rooms.lost(room, member, state, reason)
  }

  get log (): FastifyBaseLogger {
    return this.#log
  }
}

/**
 * The chat core: the open connections, membership changes with the notifications they cause,
 * and delivery of encoded frames to local sockets. It implements `app.chat` (through a facade
 * that exposes only the public methods) and is the adapter's `AdapterNode`. It knows neither
 * `ws` (that is `Connection`) nor HTTP (that is the routes).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { AdapterNode, ChatAdapter, Published, RemoteCommand, RemoteResult, Resume, RoomState } from './adapter/adapter.js'
import { contentDigest, dedupeKey } from './history.js'
import { textFrame, type Connection, type Frame } from './connection.js'
import { ATTEMPT_WINDOW_MS, CLOSE_GRACE_MS, CloseCode, MAX_TRACKED_IPS, ROOM_REGEXP, SERVER_SENDER, type LeaveReason } from './constants.js'
import {
  FST_CHAT_CLIENT_NOT_FOUND, FST_CHAT_CLOSING, FST_CHAT_INVALID_CLOSE_CODE, FST_CHAT_INVALID_CLOSE_REASON,
  FST_CHAT_INVALID_CONTENT, FST_CHAT_INVALID_HISTORY_QUERY, FST_CHAT_JOIN_FORBIDDEN, FST_CHAT_ROOM_FULL, FST_CHAT_INVALID_ROOM, FST_CHAT_TIMEOUT, FST_CHAT_TOO_MANY_ROOMS
} from './errors.js'
import type { ResolvedOptions } from './options.js'
import { encode } from './protocol/codec.js'
import type { JoinedFrame, LeftFrame, Ref, ServerFrame } from './protocol/schemas.js'
import { Registry, type Member } from './registry.js'
import { RoomFeeds } from './room-feed.js'
import type { ChatRegistry, ChatStats, HistoryPage } from './types.js'

export type JoinOutcome = 'joined' | 'already' | 'full' | 'room-full' | 'forbidden'

/** A membership of a local connection: the registry keeps the connection for delivery. */
interface LocalMember extends Member {
  readonly conn: Connection
  /**
   * Live frames held while the member is joining (until `joined` and any replay are out), so that
   * nothing overtakes them and the switch from replay to live has no gap and no duplicate.
   */
  buffer?: Array<{ seq: number | undefined, frame: Frame }>
}

function isCloseCode (code: unknown): code is number {
  return code === 1000 || code === 1001 || code === 1008 || code === 1011 ||
    (typeof code === 'number' && Number.isInteger(code) && code >= 3000 && code <= 4999)
}

/** A user-supplied value, made short and safe for an error message. */
function shown (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 80) + '...' : value)
  if (typeof value === 'number') return String(value)
  return typeof value
}

export class ChatHub implements AdapterNode {
  readonly registry = new Registry<LocalMember>()
  /** Open sockets per user id, and per IP, on this process. */
  readonly #perUser = new Map<string, number>()
  readonly #perIp = new Map<string, number>()
  /** Upgrade attempts per IP in the current minute (insertion order: oldest window first). */
  readonly #attempts = new Map<string, { since: number, count: number }>()
  readonly connections = new Map<string, Connection>()
  /** The public `app.chat`. */
  readonly facade: ChatRegistry

  readonly #opts: ResolvedOptions
  readonly #adapter: ChatAdapter
  readonly #log: FastifyBaseLogger
  readonly #feeds: RoomFeeds
  #messagesIn = 0
  #messagesOut = 0
  #closing = false
  #heartbeat: NodeJS.Timeout | undefined
  // Removals of closed connections still telling the adapter: close() waits for them, so that a
  // graceful shutdown has removed this process's members (and said so) before it resolves.
  readonly #removals = new Set<Promise<void>>()

  constructor (opts: ResolvedOptions, adapter: ChatAdapter, log: FastifyBaseLogger) {
    this.#opts = opts
    this.#adapter = adapter
    this.#log = log
    this.#feeds = new RoomFeeds({
      write: (room, text, except, seq) => this.#write(room, text, except, seq),
      since: async (room, seq, epoch) => await this.#adapter.since(room, seq, epoch),
      log
    })
    this.facade = Object.freeze({
      rooms: () => this.#adapter.rooms(),
      room: async (name: string) => { this.#checkRoom(name); return await this.#adapter.room(name) },
      members: async (name: string) => { this.#checkRoom(name); return await this.#adapter.members(name) },
      join: (clientId: string, room: string) => this.#hostJoin(clientId, room),
      leave: (clientId: string, room: string) => this.#hostLeave(clientId, room),
      broadcast: (room: string, content: string) => this.#hostBroadcast(room, content),
      disconnect: (clientId: string, code?: number, reason?: string) => this.#hostDisconnect(clientId, code, reason),
      stats: async () => await this.#adapter.stats(this.stats()),
      history: (room: string, options?: { after?: number, before?: number, limit?: number }) => this.#hostHistory(room, options)
    } satisfies ChatRegistry)
  }

  /** Starts pinging every connection; a connection that has not answered the previous ping is terminated. */
  startHeartbeat (): void {
    const interval = this.#opts.heartbeatInterval
    if (interval === 0 || this.#heartbeat !== undefined) return
    this.#heartbeat = setInterval(() => this.#beat(), interval).unref()
  }

  #beat (): void {
    for (const conn of this.connections.values()) {
      conn.checkSlow()
      if (conn.alive) {
        conn.ping()
        continue
      }
      conn.log.info('no pong since the last ping: terminating')
      this.remove(conn, 'timeout')
      conn.terminate()
    }
  }

  /** Counts one frame received from a client. */
  countIn (): void {
    this.#messagesIn++
  }

  /** Sends one frame to one connection. */
  send (conn: Connection, frame: ServerFrame): void {
    if (conn.send(encode(frame))) this.#messagesOut++
  }

  /** AdapterNode: an encoded frame for this process's members of a room (checked for holes and copies). */
  deliver (room: string, text: string, except?: string, seq?: number, epoch?: string): void {
    this.#feeds.deliver(room, text, except, seq, epoch)
  }

  /** AdapterNode: the transport may have dropped frames; read back what the rooms missed. */
  resync (): void {
    this.#feeds.resync()
  }

  /** Writes one encoded frame to this process's members of a room. */
  #write (room: string, text: string, except: string | undefined, seq: number | undefined): void {
    const members = this.registry.membersOf(room)
    if (members === undefined) return
    // Framed once for everyone: each member gets the same bytes, coalesced per turn.
    const frame = textFrame(text)
    let sent = 0
    for (const member of members.values()) {
      if (member.clientId === except) continue
      if (member.buffer !== undefined) member.buffer.push({ seq, frame })
      else if (member.conn.sendFrame(frame)) sent++
    }
    this.#messagesOut += sent
  }

  /** AdapterNode: the history limits. */
  get history (): ResolvedOptions['history'] {
    return this.#opts.history
  }

  /** A newly opened, authenticated connection: welcome it and put it in the default room. */
  async open (conn: Connection): Promise<void> {
    if (this.#closing) {
      conn.close(CloseCode.GOING_AWAY, 'server shutting down')
      return
    }
    this.connections.set(conn.id, conn)
    this.#perUser.set(conn.userId, (this.#perUser.get(conn.userId) ?? 0) + 1)
    this.#perIp.set(conn.ip, (this.#perIp.get(conn.ip) ?? 0) + 1)
    try {
      await this.#adapter.connect(conn.id, conn.userId)
    } catch (err) {
      // Not fatal: the socket works locally, and an adapter that lost its store rewrites its
      // clients when the store is back.
      conn.log.warn({ err }, 'could not record the connection in the adapter')
    }
    this.send(conn, { type: 'welcome', message: 'Connected to chat server', clientId: conn.id, userId: conn.userId })
    this.armExpiry(conn, conn.user.exp)
    conn.debug({}, 'connected')
    if (this.#opts.defaultRoom !== false) await this.joinRoom(conn, this.#opts.defaultRoom)
  }

  /** Joins `conn` to `room`: `joined` to it, `userJoined` to the others. */
  async joinRoom (conn: Connection, room: string, ref?: Ref, since?: { seq: number, epoch: string }): Promise<JoinOutcome> {
    let member = this.registry.membersOf(room)?.get(conn.id)
    const already = member !== undefined
    if (member === undefined) {
      if (this.registry.roomCountOf(conn.id) >= this.#opts.maxRoomsPerConnection) return 'full'
      const here = this.registry.count(room)
      if (here === 0 && this.registry.roomCount >= this.#opts.maxRoomsPerProcess) return 'full'
      if (here >= this.#opts.maxMembersPerRoom) return 'room-full'
      const canJoin = this.#opts.canJoin
      if (canJoin !== undefined && await canJoin(conn.user, room) !== true) return 'forbidden'
      // Joined meanwhile (the rule was async)? Then it is a member already.
      if (this.registry.has(room, conn.id)) return await this.joinRoom(conn, room, ref, since)
      member = { clientId: conn.id, userId: conn.userId, joinedAt: Date.now(), conn, buffer: [] }
      this.registry.add(room, member)
    } else if (since !== undefined) {
      member.buffer = []
    }
    let state: RoomState
    let resume: Resume | undefined
    try {
      // Idempotent: for a member already in, it only reads the room's state.
      state = await this.#adapter.join(room, member)
      if (since !== undefined) resume = await this.#adapter.since(room, since.seq, since.epoch)
    } catch (err) {
      // Nothing was done: the caller hears why (UNAVAILABLE) and may retry.
      if (!already) this.#unregister(room, conn.id)
      else this.#release(member, 0)
      throw err
    }
    this.#feeds.started(room, state.seq, state.epoch)
    // Closed meanwhile: its close handler already took it out of the room and said so.
    if (conn.closed) return already ? 'already' : 'joined'
    const joined: JoinedFrame = { type: 'joined', room, members: state.members, seq: state.seq, epoch: state.epoch }
    if (resume !== undefined) joined.recovered = resume.recovered
    this.send(conn, withRef(joined, ref))
    let last = state.seq
    if (resume?.recovered === true) {
      for (const m of resume.messages) {
        if (conn.send(m.text)) this.#messagesOut++
        if (m.seq > last) last = m.seq
      }
    }
    this.#release(member, last)
    if (already) return 'already'
    if (state.members <= this.#opts.presenceLimit) {
      this.#announce(room, encode({ type: 'userJoined', room, clientId: conn.id, userId: conn.userId }), conn.id)
    }
    conn.debug({ room, seq: state.seq, recovered: resume?.recovered }, 'joined')
    return 'joined'
  }

  /** Takes a membership out of the registry; a room left without local members stops its feed. */
  #unregister (room: string, clientId: string): LocalMember | undefined {
    const member = this.registry.remove(room, clientId)
    if (member !== undefined && this.registry.count(room) === 0) this.#feeds.stopped(room)
    return member
  }

  /** Ends a join's buffering: sends what came live after seq `after` (and every presence frame). */
  #release (member: LocalMember, after: number): void {
    const buffer = member.buffer
    if (buffer === undefined) return
    member.buffer = undefined
    for (const b of buffer) {
      if ((b.seq === undefined || b.seq > after) && member.conn.sendFrame(b.frame)) this.#messagesOut++
    }
  }

  /** Takes `conn` out of `room`: `left` to it (unless it is gone), `userLeft` to the others. */
  async leaveRoom (conn: Connection, room: string, reason: LeaveReason, ref?: Ref): Promise<boolean> {
    const member = this.#unregister(room, conn.id)
    if (member === undefined) return false
    let members: number
    try {
      members = await this.#adapter.leave(room, conn.id)
    } catch (err) {
      // Nothing was done (for a connection still open): it stays a member and may retry.
      if (reason === 'left' || reason === 'removed') this.registry.add(room, member)
      throw err
    }
    if (reason === 'left' || reason === 'removed') {
      const left: LeftFrame = { type: 'left', room, members }
      if (reason === 'removed') left.reason = 'removed'
      this.send(conn, withRef(left, ref))
    }
    // Counted with the leaver, as a join is counted with the joiner.
    if (members + 1 <= this.#opts.presenceLimit) {
      this.#announce(room, encode({ type: 'userLeft', room, clientId: conn.id, userId: conn.userId, reason }))
    }
    conn.debug({ room, reason }, 'left')
    return true
  }

  /**
   * Publishes a presence frame. The membership change it reports is done, so a failure to tell the
   * others is logged, not reported to the member.
   */
  #announce (room: string, frame: string, except?: string): void {
    this.#adapter.publish(room, frame, except)
      .catch((err: unknown) => this.#log.warn({ err, room }, 'could not announce a presence change'))
  }

  /** Publishes a message to every member of `room`; resolves with its id. `name`: the sender's display name. */
  async publishMessage (room: string, from: string, userId: string, content: string, ref?: Ref, name?: string): Promise<Published> {
    const id = randomUUID()
    const shownName = name === undefined ? '' : `,"name":${JSON.stringify(name)}`
    // The adapter, the one authority for the room's sequence, puts seq and epoch in.
    return await this.#adapter.publishMessage(room, {
      id,
      head: `{"type":"message","room":${JSON.stringify(room)},"id":"${id}","seq":`,
      mid: ',"epoch":"',
      tail: `","from":${JSON.stringify(from)},"userId":${JSON.stringify(userId)}${shownName},"content":${JSON.stringify(content)},"timestamp":${Date.now()}}`,
      dedupe: ref === undefined ? undefined : dedupeKey(userId, room, ref),
      digest: ref === undefined ? undefined : contentDigest(content)
    })
  }

  /**
   * Arms a connection's token-expiry timers from its token's `exp` (seconds): `tokenExpiring`
   * `tokenExpiringLead` ms before (at once if less is left), and a close with 4001 `expiryGrace`
   * ms after, unless a refresh re-arms them first.
   */
  armExpiry (conn: Connection, exp: unknown): void {
    conn.clearExpiry()
    if (typeof exp !== 'number' || !Number.isFinite(exp) || conn.closed) return
    const expMs = exp * 1000
    const now = Date.now()
    const timers: NodeJS.Timeout[] = conn.expiryTimers = []
    const MAX = 2 ** 31 - 1
    const closeIn = expMs + this.#opts.expiryGrace - now
    if (closeIn > MAX) {
      // Beyond what a timer can wait: look again later.
      timers.push(setTimeout(() => this.armExpiry(conn, exp), MAX).unref())
      return
    }
    const warn = (): void => this.send(conn, { type: 'tokenExpiring', in: Math.max(0, expMs - Date.now()) })
    const warnIn = expMs - this.#opts.tokenExpiringLead - now
    if (warnIn <= 0) warn()
    else timers.push(setTimeout(warn, warnIn).unref())
    timers.push(setTimeout(() => {
      conn.log.info('token expired and was not refreshed: closing with 4001')
      conn.close(CloseCode.TOKEN_EXPIRED, 'token expired')
    }, Math.max(0, closeIn)).unref())
  }

  /** A connection is gone (socket closed, or a missed pong): it leaves all its rooms. Idempotent. */
  /**
   * Counts an upgrade attempt from an IP and says whether it may go on: under the per-IP
   * limits (both off by default).
   */
  mayAttempt (ip: string): boolean {
    const { maxConnectionsPerIp, maxConnectAttemptsPerIp } = this.#opts
    if (maxConnectionsPerIp > 0 && (this.#perIp.get(ip) ?? 0) >= maxConnectionsPerIp) return false
    if (maxConnectAttemptsPerIp === 0) return true
    const now = Date.now()
    let a = this.#attempts.get(ip)
    if (a === undefined || now - a.since >= ATTEMPT_WINDOW_MS) {
      this.#attempts.delete(ip)
      a = { since: now, count: 0 }
      this.#attempts.set(ip, a)
      // Bounded: expired windows, and past the bound the oldest, go.
      for (const [k, v] of this.#attempts) {
        if (this.#attempts.size <= MAX_TRACKED_IPS && now - v.since < ATTEMPT_WINDOW_MS) break
        this.#attempts.delete(k)
      }
    }
    return ++a.count <= maxConnectAttemptsPerIp
  }

  /** Whether a user may open one more socket here. */
  mayConnect (userId: string): boolean {
    return (this.#perUser.get(userId) ?? 0) < this.#opts.maxConnectionsPerUser
  }

  remove (conn: Connection, reason: 'closed' | 'timeout'): void {
    if (!this.connections.delete(conn.id)) return
    const open = (this.#perUser.get(conn.userId) ?? 1) - 1
    if (open === 0) this.#perUser.delete(conn.userId)
    else this.#perUser.set(conn.userId, open)
    const fromIp = (this.#perIp.get(conn.ip) ?? 1) - 1
    if (fromIp === 0) this.#perIp.delete(conn.ip)
    else this.#perIp.set(conn.ip, fromIp)
    const rooms = this.registry.roomsOf(conn.id)
    conn.debug({ reason, rooms: rooms.length }, 'disconnected')
    const leaveAll = async (): Promise<void> => {
      for (const room of rooms) {
        try {
          await this.leaveRoom(conn, room, reason)
        } catch (err) {
          // The store is unreachable: the local registry is already right, and the adapter
          // rewrites this process's members when the store is back.
          conn.log.warn({ err, room }, 'could not record leaving a room')
        }
      }
      await this.#adapter.disconnect(conn.id)
    }
    const removal = leaveAll()
      .catch((err: unknown) => conn.log.warn({ err }, 'could not record the disconnection in the adapter'))
      .finally(() => this.#removals.delete(removal))
    this.#removals.add(removal)
  }

  stats (): ChatStats {
    return {
      connections: this.connections.size,
      rooms: this.registry.roomCount,
      members: this.registry.memberCount,
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut
    }
  }

  /**
   * Closes every socket with 1001 and waits for their closing handshakes, cutting the ones that
   * have not finished after CLOSE_GRACE_MS. New connections are turned away from now on.
   */
  async shutdown (): Promise<void> {
    this.#closing = true
    this.#stopHeartbeat()
    const open = [...this.connections.values()]
    if (open.length === 0) return
    this.#log.info({ connections: open.length }, 'closing chat connections')
    await new Promise<void>((resolve) => {
      let waiting = open.length
      const grace = setTimeout(() => {
        for (const conn of open) if (!conn.isClosed) conn.terminate()
      }, CLOSE_GRACE_MS).unref()
      const closed = (): void => {
        if (--waiting > 0) return
        clearTimeout(grace)
        resolve()
      }
      for (const conn of open) {
        conn.onceClosed(closed)
        conn.close(CloseCode.GOING_AWAY, 'server shutting down')
      }
    })
  }

  /** Last step of `app.close()`: forget everything and release the adapter. */
  async close (): Promise<void> {
    this.#closing = true
    this.#stopHeartbeat()
    await Promise.all(this.#removals)
    this.connections.clear()
    this.#perUser.clear()
    this.#perIp.clear()
    this.#attempts.clear()
    this.registry.clear()
    this.#feeds.close()
    await this.#adapter.close()
  }

  #stopHeartbeat (): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }

  #checkRoom (room: unknown): asserts room is string {
    if (typeof room !== 'string' || !ROOM_REGEXP.test(room)) throw new FST_CHAT_INVALID_ROOM(shown(room))
  }

  /** AdapterNode: a command on a local client, run in its queue after its own requests. */
  async execute (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    const conn = this.connections.get(clientId)
    if (conn === undefined || this.#closing) return 'not-found'
    return await new Promise<RemoteResult>((resolve, reject) => {
      const scheduled = conn.schedule(async () => {
        try {
          resolve(await this.#execute(conn, command))
        } catch (err) {
          reject(err)
        }
      })
      // Closed or swamped: as if it had closed a moment earlier.
      if (!scheduled) resolve('not-found')
    })
  }

  async #execute (conn: Connection, command: RemoteCommand): Promise<RemoteResult> {
    switch (command.op) {
      case 'join': return await this.joinRoom(conn, command.room)
      case 'leave': return await this.leaveRoom(conn, command.room, 'removed') ? 'left' : 'not-member'
      case 'disconnect':
        conn.close(command.code, command.reason)
        return 'closed'
    }
  }

  /** AdapterNode: every local client. */
  * localClients (): Iterable<{ clientId: string, userId: string }> {
    for (const conn of this.connections.values()) yield { clientId: conn.id, userId: conn.userId }
  }

  /** AdapterNode: a member removed by the adapter (its process died): tell the room. */
  lost (room: string, clientId: string, userId: string, members: number, reason: LeaveReason): void {
    if (members + 1 > this.#opts.presenceLimit || members === 0) return
    this.#adapter.publish(room, encode({ type: 'userLeft', room, clientId, userId, reason }))
      .catch((err: unknown) => this.#log.warn({ err, room }, 'could not announce a lost member'))
  }

  get log (): FastifyBaseLogger {
    return this.#log
  }

  /** A command on any client: here if this process holds it, else through the adapter. */
  async #command (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    if (this.#closing) throw new FST_CHAT_CLOSING()
    if (typeof clientId !== 'string' || clientId === '') return 'not-found'
    const result = this.connections.has(clientId)
      ? await this.execute(clientId, command)
      : await this.#adapter.command(clientId, command)
    if (result === 'timeout') throw new FST_CHAT_TIMEOUT(shown(clientId))
    return result
  }

  async #hostJoin (clientId: string, room: string): Promise<boolean> {
    this.#checkRoom(room)
    const result = await this.#command(clientId, { op: 'join', room })
    if (result === 'not-found') throw new FST_CHAT_CLIENT_NOT_FOUND(shown(clientId))
    if (result === 'full') throw new FST_CHAT_TOO_MANY_ROOMS(shown(clientId), this.#opts.maxRoomsPerConnection)
    if (result === 'forbidden') throw new FST_CHAT_JOIN_FORBIDDEN(shown(room))
    if (result === 'room-full') throw new FST_CHAT_ROOM_FULL(shown(room))
    return result === 'joined'
  }

  async #hostLeave (clientId: string, room: string): Promise<boolean> {
    this.#checkRoom(room)
    if (this.#closing) return false
    return await this.#command(clientId, { op: 'leave', room }) === 'left'
  }

  async #hostBroadcast (room: string, content: string): Promise<{ id: string, seq: number }> {
    this.#checkRoom(room)
    if (typeof content !== 'string' || content.length === 0 || content.length > this.#opts.maxMessageLength) {
      throw new FST_CHAT_INVALID_CONTENT(this.#opts.maxMessageLength)
    }
    if (this.#closing) throw new FST_CHAT_CLOSING()
    const { id, seq } = await this.publishMessage(room, SERVER_SENDER, SERVER_SENDER, content)
    return { id, seq }
  }

  async #hostHistory (room: string, options: { after?: number, before?: number, limit?: number } = {}): Promise<HistoryPage> {
    this.#checkRoom(room)
    const { after, before } = options
    const most = Math.max(1, this.#opts.history.size)
    const limit = options.limit ?? Math.min(50, most)
    const valid = (n: unknown, min: number, max: number) => n === undefined || (Number.isInteger(n) && (n as number) >= min && (n as number) <= max)
    if (!valid(after, 0, Number.MAX_SAFE_INTEGER) || !valid(before, 1, Number.MAX_SAFE_INTEGER) || !valid(limit, 1, most) ||
        (after !== undefined && before !== undefined)) {
      throw new FST_CHAT_INVALID_HISTORY_QUERY(most)
    }
    const page = await this.#adapter.history(room, { after, before, limit })
    return { room, epoch: page.epoch, messages: page.messages.map((m) => JSON.parse(m) as Record<string, unknown>) }
  }

  async #hostDisconnect (clientId: string, code: number = CloseCode.NORMAL, reason = ''): Promise<boolean> {
    if (!isCloseCode(code)) throw new FST_CHAT_INVALID_CLOSE_CODE(shown(code))
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) throw new FST_CHAT_INVALID_CLOSE_REASON()
    if (this.#closing) return false
    return await this.#command(clientId, { op: 'disconnect', code, reason }) === 'closed'
  }
}

function withRef<T extends ServerFrame & { ref?: Ref }> (frame: T, ref: Ref | undefined): T {
  if (ref !== undefined) frame.ref = ref
  return frame
}

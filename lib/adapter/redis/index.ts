/**
 * The Redis adapter: rooms, presence, history, REST and `app.chat` across processes, on one Redis,
 * a primary with replicas (Sentinel), or a Redis Cluster. Keys and scripts: keys.ts, scripts.ts;
 * connection health: health.ts; subscriptions: pubsub.ts; liveness and reaping: liveness.ts;
 * failovers: topology.ts; requests between processes: ../cluster-rpc.ts.
 *
 * The host's client runs the commands and is never quit; a duplicate subscribes. Commands fail
 * fast (FST_CHAT_UNAVAILABLE) while Redis is unreachable instead of queueing; when it is back, the
 * process rewrites its clients and members and reads what its rooms missed from history.
 */
import Redis, { Cluster } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { ClusterRpc } from '../cluster-rpc.js'
import type {
  Marker, Unread,
  AdapterFactory, AdapterNode, HeldMessage, LeaveState, UserPresence, Revision, StoredFrame, ChatAdapter, MemberPage, MessageDraft, Page, Published, RemoteCommand, RemoteResult, Resume, RoomPage, RoomState
} from '../contract.js'
import type { TicketStore } from '../tickets.js'
import type { ChatStats, Member, Restriction, RestrictionKind, RoomInfo } from '../../model.js'
import { RedisRestrictions } from './restrictions.js'
import { RedisUsers } from './users.js'
import { RedisDirect } from './direct.js'
import { RedisMarkers } from './markers.js'
import { Health, type Client } from './health.js'
import { INDEX_BUCKETS, Keys } from './keys.js'
import { Liveness } from './liveness.js'
import { resolveRedisOptions, type RedisAdapterOptions, type ResolvedRedisOptions } from './options.js'
import { Subscriber, supportsSharded } from './pubsub.js'
import { Reads } from './reads.js'
import { Topology } from './topology.js'
import { RoomWrites, SIGNAL } from './writes.js'

export type { RedisAdapterOptions } from './options.js'

type Request = { op: 'cmd', clientId: string, command: RemoteCommand } | { op: 'stats' }

export class RedisAdapter implements ChatAdapter {
  readonly name = 'redis'
  readonly #o: ResolvedRedisOptions
  readonly #node: AdapterNode
  readonly #log: FastifyBaseLogger
  readonly #keys: Keys
  readonly #health: Health
  readonly #liveness: Liveness
  readonly #topology: Topology
  readonly #rpc: ClusterRpc<Request, unknown>
  #sub: Subscriber | undefined
  #publish: 'SPUBLISH' | 'PUBLISH' = 'PUBLISH'
  readonly #reads: Reads
  readonly #restrictions: RedisRestrictions
  readonly #writes: RoomWrites
  readonly #users: RedisUsers
  readonly #direct: RedisDirect
  readonly #markers: RedisMarkers

  #closed = false

  constructor (options: ResolvedRedisOptions, node: AdapterNode) {
    this.#o = options
    this.#node = node
    this.#log = node.log
    this.#keys = new Keys(options.prefix)
    this.#health = new Health(options.client, options.requestTimeout, node.log, () => { void this.#recovered() })
    this.#liveness = new Liveness({
      keys: this.#keys,
      health: this.#health,
      node,
      beatEvery: options.heartbeatInterval,
      nodeTimeout: options.nodeTimeout,
      log: node.log,
      presenceTtl: options.presenceTtl,
      publishCommand: () => this.#publish,
      rejoin: async (room, members) => { await this.#writes.rejoin(room, members) }
    })
    this.#topology = new Topology(options.client, this.#health, this.#keys, node, node.log)
    this.#reads = new Reads(this.#keys, this.#health, node)
    this.#restrictions = new RedisRestrictions(this.#keys, this.#health)
    this.#users = new RedisUsers(this.#keys, this.#health, node, options.presenceTtl)
    this.#direct = new RedisDirect(this.#keys, this.#health)
    this.#markers = new RedisMarkers(this.#keys, this.#health, options.presenceTtl)
    this.#writes = new RoomWrites(this.#keys, this.#health, node, this.#topology)
    this.#rpc = new ClusterRpc<Request, unknown>(node.id, {
      send: async (to, message) => { await this.#health.run(async (c) => await c.call(this.#publish, this.#keys.nodeChannel(to), message)) }
    }, async (req) => await this.#answer(req), options.requestTimeout)
  }

  /** This process's id in the chat (its clientIds start with it; its subscriber is named `fastify-chat:sub:<id>`). */
  get nodeId (): string {
    return this.#node.id
  }

  /** Tickets in Redis: minted on one process, redeemed once on any (GETDEL). */
  readonly tickets: TicketStore = {
    issue: async (ticket, claims, ttl) => { await this.#health.run(async (c) => await c.set(this.#keys.ticket(ticket), claims, 'PX', ttl)) },
    redeem: async (ticket) => await this.#health.run(async (c) => await c.getdel(this.#keys.ticket(ticket)))
  }

  /** Connects the subscriber, subscribes to this process's inbox, and beats once (sweeping the dead). */
  async start (): Promise<void> {
    const client = this.#o.client
    await whenReady(client, this.#o.requestTimeout)
    const sharded = client instanceof Cluster || await supportsSharded(client)
    this.#publish = sharded ? 'SPUBLISH' : 'PUBLISH'
    this.#sub = new Subscriber(client, sharded, `fastify-chat:sub:${this.#node.id}`, {
      message: (channel, message) => this.#message(channel, message),
      resubscribed: () => this.#node.resync()
    }, this.#log)
    this.#writes.sub = this.#sub
    this.#writes.publishCommand = this.#publish
    this.#users.sub = this.#sub
    this.#users.publishCommand = this.#publish
    await this.#sub.start([this.#keys.nodeChannel(this.#node.id)], this.#o.requestTimeout)
    await this.#topology.start()
    await this.#liveness.start()
  }

  /** Redis came back: rewrite this process, subscribe again, read what the rooms missed. */
  async #recovered (): Promise<void> {
    if (this.#closed) return
    try {
      // Connections opened during the outage were admitted by this process alone: count them.
      this.#users.recount(this.#node.localClients())
      await this.#topology.reconnected()
      await this.#liveness.rewrite()
      await this.#sub?.refresh()
    } catch (err) {
      this.#log.error({ err }, 'fastify-chat: could not rewrite this process\'s members after Redis came back')
    }
  }

  #message (channel: string, message: string): void {
    const room = this.#keys.roomOf(channel)
    if (room === undefined) {
      if (!this.#users.message(channel, message)) this.#rpc.receive(message)
      return
    }
    // Records of four lines, "<except>\n<seq>\n<epoch>\n<frame>" (the first three possibly empty;
    // a frame is JSON, which has no raw newline), one or more per publish, in seq order.
    let at = 0
    while (at < message.length) {
      const a = message.indexOf('\n', at)
      const b = message.indexOf('\n', a + 1)
      const c = message.indexOf('\n', b + 1)
      let end = message.indexOf('\n', c + 1)
      if (a === -1 || b === -1 || c === -1) return
      if (end === -1) end = message.length
      const except = message.slice(at, a)
      const seq = message.slice(a + 1, b)
      if (except === SIGNAL) {
        // A signal: its second line is the sending process, which skips its own.
        if (seq !== this.#node.id) this.#node.signal(room, message.slice(c + 1, end))
      } else {
        this.#node.deliver(room, message.slice(c + 1, end), except === '' ? undefined : except,
          seq === '' ? undefined : Number(seq), seq === '' ? undefined : message.slice(b + 1, c))
      }
      at = end + 1
    }
  }

  async #answer (req: Request): Promise<unknown> {
    if (req.op === 'stats') return this.#node.stats()
    return await this.#node.execute(req.clientId, req.command)
  }

  async admit (userId: string, clientId: string, limit: number): Promise<Restriction[] | false> {
    return await this.#users.admit(userId, clientId, limit)
  }

  async cancelAdmission (userId: string, clientId: string): Promise<void> {
    await this.#users.gone(userId, clientId)
  }

  /** Nothing to do: ADMIT counted the connection, and said the user is online if it is its first. */
  async connect (): Promise<void> {}

  async disconnect (clientId: string, userId: string): Promise<void> {
    await this.#users.gone(userId, clientId)
  }

  readonly clientsOf = async (userId: string): Promise<string[]> => await this.#users.clientsOf(userId)
  readonly presence = async (userIds: string[]): Promise<UserPresence[]> => await this.#users.presence(userIds)
  readonly watch = async (userId: string): Promise<void> => { await this.#users.watch(userId) }
  readonly unwatch = async (userId: string): Promise<void> => { await this.#users.unwatch(userId) }
  readonly startConversation = async (room: string, a: string, b: string, perMinute?: number): Promise<boolean> => await this.#direct.start(room, a, b, perMinute)
  readonly participants = async (room: string): Promise<[string, string] | null> => await this.#direct.participants(room)
  readonly conversations = async (userId: string): Promise<Array<{ room: string, with: string, seq: number }>> => await this.#direct.of(userId)
  readonly readMarkers = async (userId: string, rooms?: string[]): Promise<Map<string, number>> => await this.#markers.read(userId, rooms)
  readonly markRead = async (userId: string, room: string, seq: number, init = false): Promise<Marker> => await this.#markers.mark(userId, room, seq, init)
  readonly unread = async (room: string, userId: string, after: number, cap: number): Promise<Unread> => await this.#markers.unread(room, userId, after, cap)
  readonly restrict = async (restriction: Restriction): Promise<void> => { await this.#restrictions.restrict(restriction) }
  readonly lift = async (kind: RestrictionKind, userId: string, room: string | undefined): Promise<boolean> => await this.#restrictions.lift(kind, userId, room)
  readonly restrictions = async (kind: RestrictionKind, room: string): Promise<Restriction[]> => await this.#restrictions.inRoom(kind, room)
  readonly userRestrictions = async (userId: string): Promise<Restriction[]> => await this.#restrictions.ofUser(userId)
  async join (room: string, member: Member): Promise<RoomState> {
    return await this.#writes.join(room, member)
  }

  async leave (room: string, member: Member): Promise<LeaveState> {
    return await this.#writes.leave(room, member)
  }

  readonly userConnections = async (name: string, userIds: string[]): Promise<number[]> => await this.#reads.userConnections(name, userIds)
  async publish (room: string, frame: string, except?: string): Promise<void> {
    await this.#writes.publish(room, frame, except)
  }

  readonly signal = async (room: string, data: string): Promise<void> => { await this.#writes.signal(room, data) }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    return await this.#writes.publishMessage(room, draft)
  }

  async publishStored (room: string, epoch: string, events: StoredFrame[]): Promise<void> {
    await this.#writes.publishStored(room, epoch, events)
  }

  async revise (room: string, revision: Revision): Promise<Published | null> {
    return await this.#writes.revise(room, revision)
  }

  async find (room: string, id: string): Promise<HeldMessage | null> {
    return await this.#reads.find(room, id)
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    return await this.#reads.since(room, seq, epoch)
  }

  async history (room: string, options: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    return await this.#reads.history(room, options)
  }

  async rooms (page: Page): Promise<RoomPage> {
    return await this.#reads.rooms(page)
  }

  async room (name: string): Promise<RoomInfo | null> {
    return await this.#reads.room(name)
  }

  async members (name: string, page: Page): Promise<MemberPage> {
    return await this.#reads.members(name, page)
  }

  async command (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    const holder = clientId.slice(0, clientId.indexOf('.'))
    // The holder is in the clientId: no lookup; a process that is not alive holds nothing.
    if (holder === '' || holder === this.#node.id || !await this.#liveness.isLive(holder)) return 'not-found'
    const reply = await this.#rpc.request(holder, { op: 'cmd', clientId, command })
    return reply === undefined ? 'timeout' : reply.result as RemoteResult
  }

  async stats (local: ChatStats): Promise<ChatStats> {
    const replies = await this.#rpc.gather(await this.#liveness.live(), { op: 'stats' }) as ChatStats[]
    const total = { ...local }
    for (const r of replies) {
      total.connections += r.connections
      total.members += r.members
      total.messagesIn += r.messagesIn
      total.messagesOut += r.messagesOut
    }
    const buckets = await Promise.all(Array.from({ length: INDEX_BUCKETS }, async (_, k) => await this.#health.run(async (c) => await c.zcard(this.#keys.roomIndex(k)))))
    total.rooms = buckets.reduce((a, b) => a + b, 0)
    return total
  }

  async close (): Promise<void> {
    if (this.#closed) return
    await this.#liveness.stop()
    try {
      // Whatever this process still holds (normally nothing: its connections have left).
      await this.#liveness.reap(this.#node.id, 'closed')
    } catch (err) {
      this.#log.warn({ err }, 'fastify-chat: could not remove this process from Redis on close (its heartbeat will expire)')
    }
    this.#closed = true
    this.#rpc.close()
    this.#topology.stop()
    this.#health.close()
    this.#writes.close()
    this.#sub?.close()
    if (this.#o.ownsClient) await this.#o.client.quit().catch(() => this.#o.client.disconnect())
  }
}

/** Waits until a connection is ready, for at most `timeout` ms. */
async function whenReady (client: Client, timeout: number): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve) => {
    const done = (): void => { clearTimeout(timer); client.off('ready', done); resolve() }
    const timer = setTimeout(done, timeout)
    client.once('ready', done)
  })
}

/**
 * The Redis adapter. Pass the host's ioredis client (`{ client }`: a `new Redis(url)`, a Sentinel
 * client, or a `new Redis.Cluster(nodes)`; never quit by the adapter) or a URL (`{ url }`: the
 * adapter makes its client when the plugin starts and quits it on close). Bad options throw here,
 * naming the option.
 */
export function redisAdapter (options: RedisAdapterOptions): AdapterFactory {
  const { client, url, ...rest } = resolveRedisOptions(options)
  return async (node) => {
    const own = client === undefined
    // Its own client from a URL gets auto-pipelining: a turn's commands (a storm's admissions and
    // markers, one small script each) go out in one write.
    const redis = client ?? new Redis(url!, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true })
    const adapter = new RedisAdapter({ ...rest, client: redis, ownsClient: own }, node)
    try {
      await adapter.start()
    } catch (err) {
      await adapter.close()
      throw err
    }
    return adapter
  }
}

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
  AdapterFactory, AdapterNode, ChatAdapter, MemberPage, MessageDraft, Page, Published, RemoteCommand, RemoteResult, Resume, RoomPage, RoomState
} from '../contract.js'
import { newEpoch } from '../epoch.js'
import type { TicketStore } from '../tickets.js'
import type { ChatStats, Member, RoomInfo } from '../../model.js'
import { Health, type Client } from './health.js'
import { INDEX_BUCKETS, Keys } from './keys.js'
import { Liveness } from './liveness.js'
import { resolveRedisOptions, type RedisAdapterOptions, type ResolvedRedisOptions } from './options.js'
import { Subscriber, supportsSharded } from './pubsub.js'
import { scripts } from './scripts.js'
import { Topology } from './topology.js'

export type { RedisAdapterOptions } from './options.js'

type Request = { op: 'cmd', clientId: string, command: RemoteCommand } | { op: 'stats' }

/** How long an admitted connection may take to open before its place lapses, ms. */
const RESERVATION_MS = 30_000

/** Stream entries to messages, oldest first, without those older than `ttl`. */
function entries (raw: Array<[string, string[]]>, ttl: number): Array<{ seq: number, text: string }> {
  const oldest = Date.now() - ttl
  const out = []
  for (const [id, fields] of raw) {
    let at = 0
    let text = ''
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 't') at = Number(fields[i + 1])
      else if (fields[i] === 'f') text = fields[i + 1]
    }
    if (at >= oldest) out.push({ seq: Number(id.slice(0, id.indexOf('-'))), text })
  }
  return out
}

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
  readonly #subscribing = new Map<string, Promise<void>>()
  /** Open connections here per user digest: the first adds the user to this process's set, the last removes it. */
  readonly #users = new Map<string, number>()
  #closed = false

  constructor (options: ResolvedRedisOptions, node: AdapterNode) {
    this.#o = options
    this.#node = node
    this.#log = node.log
    this.#keys = new Keys(options.prefix)
    this.#health = new Health(options.client, options.requestTimeout, node.log, () => { void this.#recovered() })
    this.#liveness = new Liveness({
      keys: this.#keys, health: this.#health, node, beatEvery: options.heartbeatInterval, nodeTimeout: options.nodeTimeout, log: node.log, localUsers: () => this.#users.keys()
    })
    this.#topology = new Topology(options.client, this.#health, this.#keys, node, node.log)
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
      resubscribed: () => this.#node.resync(),
      lost: (err) => this.#health.lost(err)
    }, this.#log)
    await this.#sub.start([this.#keys.nodeChannel(this.#node.id)], this.#o.requestTimeout)
    await this.#topology.start()
    await this.#liveness.start()
  }

  /** Redis came back: rewrite this process, subscribe again, read what the rooms missed. */
  async #recovered (): Promise<void> {
    if (this.#closed) return
    try {
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
      this.#rpc.receive(message)
      return
    }
    // "<except>\n<seq>\n<epoch>\n<frame>", each of the first three possibly empty
    const a = message.indexOf('\n')
    const b = message.indexOf('\n', a + 1)
    const c = message.indexOf('\n', b + 1)
    const except = message.slice(0, a)
    const seq = message.slice(a + 1, b)
    this.#node.deliver(room, message.slice(c + 1), except === '' ? undefined : except,
      seq === '' ? undefined : Number(seq), seq === '' ? undefined : message.slice(b + 1, c))
  }

  async #answer (req: Request): Promise<unknown> {
    if (req.op === 'stats') return this.#node.stats()
    return await this.#node.execute(req.clientId, req.command)
  }

  async admit (userId: string, clientId: string, limit: number): Promise<boolean> {
    const now = Date.now()
    const key = this.#keys.userConnections(this.#keys.userTag(userId))
    return await this.#health.run(async (c) => await scripts.admit.run(c, [key], [clientId, now, now + RESERVATION_MS, limit])) === 1
  }

  async connect (clientId: string, userId: string): Promise<void> {
    const tag = this.#keys.userTag(userId)
    const first = (this.#users.get(tag) ?? 0) === 0
    this.#users.set(tag, (this.#users.get(tag) ?? 0) + 1)
    await this.#health.run(async (c) => await Promise.all([
      c.zadd(this.#keys.userConnections(tag), '+inf', clientId),
      first ? c.sadd(this.#keys.nodeUsers(this.#node.id), tag) : undefined
    ]))
  }

  async disconnect (clientId: string, userId: string): Promise<void> {
    const tag = this.#keys.userTag(userId)
    const left = (this.#users.get(tag) ?? 1) - 1
    if (left <= 0) this.#users.delete(tag)
    else this.#users.set(tag, left)
    await this.#health.run(async (c) => await Promise.all([
      c.zrem(this.#keys.userConnections(tag), clientId),
      left <= 0 ? c.srem(this.#keys.nodeUsers(this.#node.id), tag) : undefined
    ]))
  }

  async join (room: string, member: Member): Promise<RoomState> {
    const keys = this.#keys
    // The first local member: subscribe (before the membership is visible, so that nothing
    // published after it is missed) and record the room as one this process must be reaped from.
    let first = this.#subscribing.get(room)
    if (first === undefined && this.#node.membership.count(room) === 1) {
      this.#topology.watch(room)
      first = Promise.all([
        this.#sub!.subscribe(keys.roomChannel(room)),
        this.#health.run(async (c) => await c.sadd(keys.nodeRooms(this.#node.id), room))
      ]).then(() => {})
      this.#subscribing.set(room, first)
      first.finally(() => { if (this.#subscribing.get(room) === first) this.#subscribing.delete(room) }).catch(() => {})
    }
    if (first !== undefined) await first
    const [members, seq, epoch, added] = await this.#health.run(async (c) => await scripts.join.run(c,
      [keys.members(room), keys.nodeMembers(room, this.#node.id), keys.meta(room)],
      [`${member.clientId}\n${member.userId}`, member.joinedAt, newEpoch(), this.#node.history.ttl])) as [number, number, string, number]
    if (added === 1 && members === 1) void this.#health.run(async (c) => await c.zadd(keys.roomIndex(keys.bucketOf(room)), 0, room)).catch(() => {})
    return { members, seq, epoch }
  }

  async leave (room: string, member: Member): Promise<number> {
    const keys = this.#keys
    const count = await this.#health.run(async (c) => await scripts.leave.run(c,
      [keys.members(room), keys.nodeMembers(room, this.#node.id)], [`${member.clientId}\n${member.userId}`])) as number
    if (this.#node.membership.count(room) === 0) {
      await this.#sub?.unsubscribe(keys.roomChannel(room))
      void this.#health.run(async (c) => await c.srem(keys.nodeRooms(this.#node.id), room)).catch(() => {})
    }
    if (count === 0) void this.#unlist(room)
    return count
  }

  /** An empty room leaves the index; if someone joined meanwhile, it goes back in. */
  async #unlist (room: string): Promise<void> {
    const index = this.#keys.roomIndex(this.#keys.bucketOf(room))
    try {
      await this.#health.run(async (c) => await c.zrem(index, room))
      if (await this.#health.run(async (c) => await c.zcard(this.#keys.members(room))) > 0) {
        await this.#health.run(async (c) => await c.zadd(index, 0, room))
      }
    } catch {}
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    await this.#health.run(async (c) => await c.call(this.#publish, this.#keys.roomChannel(room), `${except ?? ''}\n\n\n${frame}`))
  }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const dedupe = draft.dedupe === undefined ? keys.meta(room) : keys.dedupe(room, draft.dedupe)
    const result = await this.#health.run(async (c) => await scripts.message.run(c,
      [keys.meta(room), keys.history(room), dedupe, keys.roomChannel(room)],
      [newEpoch(), draft.head, draft.mid, draft.tail, 2 * size, ttl, Date.now(), draft.id, draft.dedupe === undefined ? '0' : '1', draft.digest ?? '', this.#publish])) as [number, string] | [number, number, string]
    if (result[0] === 0) {
      // "<id> <seq> <epoch> <digest>" of the first send
      const [id, seq, epoch, digest = ''] = String(result[1]).split(' ')
      return { status: digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id, seq: Number(seq), epoch }
    }
    return { status: 'sent', id: draft.id, seq: Number(result[1]), epoch: String(result[2]) }
  }

  async #read (room: string, direction: 'after' | 'before', bound: string, count: number): Promise<[string | null, number, Array<{ seq: number, text: string }>]> {
    const [epoch, seq, raw] = await this.#health.run(async (c) => await scripts.read.run(c,
      [this.#keys.meta(room), this.#keys.history(room)], [direction, bound, count])) as [string | null, number, Array<[string, string[]]>]
    return [epoch, seq, entries(raw, this.#node.history.ttl)]
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const [e, s, messages] = await this.#read(room, 'after', `${seq + 1}-0`, 2 * this.#node.history.size + 1)
    if (e === null || e !== epoch || seq > s) return { recovered: false }
    if (seq === s) return { recovered: true, messages: [] }
    if (messages.length === 0 || messages[0].seq !== seq + 1) return { recovered: false }
    return { recovered: true, messages }
  }

  async history (room: string, { after, before, limit }: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const [epoch, , messages] = before !== undefined
      ? await this.#read(room, 'before', `(${before}-0`, limit)
      : await this.#read(room, 'after', `${(after ?? 0) + 1}-0`, limit)
    if (before !== undefined) messages.reverse()
    return { epoch: epoch ?? '', messages: messages.map((m) => m.text) }
  }

  async rooms ({ cursor, limit }: Page): Promise<RoomPage> {
    const from = cursor === undefined ? '-' : `(${cursor}`
    // Each bucket's next names, merged: a page sorted by name across all of them.
    const lists = await Promise.all(Array.from({ length: INDEX_BUCKETS }, async (_, k) =>
      await this.#health.run(async (c) => await c.zrangebylex(this.#keys.roomIndex(k), from, '+', 'LIMIT', 0, limit))))
    const names = lists.flat().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const rooms: RoomInfo[] = []
    let last: string | undefined
    for (let i = 0; i < names.length && rooms.length < limit; i += 64) {
      const batch = names.slice(i, i + 64)
      const counts = await Promise.all(batch.map(async (name) => await this.#health.run(async (c) => await c.zcard(this.#keys.members(name)))))
      for (let j = 0; j < batch.length && rooms.length < limit; j++) {
        last = batch[j]
        if (counts[j] > 0) rooms.push({ name: batch[j], members: counts[j] })
      }
    }
    // More after `last`: names merged but not given, or a bucket that had more than it gave.
    const more = last !== undefined && (names.indexOf(last) < names.length - 1 || lists.some((l) => l.length === limit))
    return more ? { rooms, cursor: last } : { rooms }
  }

  async room (name: string): Promise<RoomInfo | null> {
    const members = await this.#health.run(async (c) => await c.zcard(this.#keys.members(name)))
    return members === 0 ? null : { name, members }
  }

  async members (name: string, { cursor, limit }: Page): Promise<MemberPage> {
    // The cursor is "<joinedAt>:<how many with that joinedAt were given>".
    const [score, skip] = cursor === undefined ? ['-inf', 0] : [cursor.slice(0, cursor.indexOf(':')), Number(cursor.slice(cursor.indexOf(':') + 1))]
    const flat = await this.#health.run(async (c) => await c.zrangebyscore(this.#keys.members(name), score, '+inf', 'WITHSCORES', 'LIMIT', skip, limit + 1))
    const members = []
    for (let i = 0; i < flat.length && members.length < limit; i += 2) {
      const m = flat[i]
      const cut = m.indexOf('\n')
      members.push({ clientId: m.slice(0, cut), userId: m.slice(cut + 1), joinedAt: Number(flat[i + 1]) })
    }
    if (flat.length / 2 <= limit) return { members }
    const lastAt = members[members.length - 1].joinedAt
    const sameAt = members.filter((m) => m.joinedAt === lastAt).length + (String(lastAt) === score ? skip : 0)
    return { members, cursor: `${lastAt}:${sameAt}` }
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
    const redis = client ?? new Redis(url!, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
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

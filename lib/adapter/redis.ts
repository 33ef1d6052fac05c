/**
 * The Redis adapter: rooms, presence, REST and `app.chat` across processes.
 *
 * Storage (all keys under `prefix`):
 *   rooms                  SET    room names with members
 *   room:<room>            ZSET   clientId -> joinedAt (join order)
 *   clients                HASH   clientId -> "<node>\n<userId>"
 *   nodes                  SET    node ids that may hold members
 *   node:<id>              STRING heartbeat, expires after `nodeTimeout`
 *   node:<id>:members      SET    "<room>\n<clientId>" this node added (what to remove if it dies)
 *   node:<id>:clients      SET    clientIds this node holds
 * Channels:
 *   ch:room:<room>         frames for a room ("<except>\n<frame>"); a node subscribes while it has
 *                          members there, so a message reaches only the processes that need it and
 *                          each member exactly once (the sender's own process hears it from Redis too)
 *   ch:node:<id>           commands to one node, and replies to it
 *   ch:all                 requests to every node (stats)
 *
 * The host's client is used for commands and never quit; a duplicate subscribes. Commands fail
 * fast (FST_CHAT_UNAVAILABLE) while Redis is unreachable instead of queueing; when it is back, the
 * node rewrites its clients and members, so the cluster view is whole again.
 */
import { randomUUID } from 'node:crypto'
import Redis from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { AdapterFactory, AdapterNode, ChatAdapter, MessageDraft, Published, RemoteCommand, RemoteResult, Resume, RoomState } from './contract.js'
import { newEpoch } from './epoch.js'
import type { TicketStore } from './tickets.js'
import { FST_CHAT_INVALID_OPTION, FST_CHAT_UNAVAILABLE } from '../errors.js'
import type { ChatStats, Member, MemberInfo, RoomInfo } from '../model.js'

export interface RedisAdapterOptions {
  /** The host's ioredis client (also `@fastify/redis`'s `app.redis`); never quit by the adapter. */
  client?: Redis
  /** Or a Redis URL: the adapter creates its client and quits it on close. */
  url?: string
  /** Prefix of every key and channel. Default `fastify-chat:`. */
  prefix?: string
  /** Deadline in ms of every cross-process request and Redis command. Default 2000. */
  requestTimeout?: number
  /** How often this process refreshes its heartbeat and sweeps dead processes, ms. Default 2000. */
  heartbeatInterval?: number
  /** A process whose heartbeat is older than this is dead and its members are removed, ms. Default 10000. */
  nodeTimeout?: number
}

// Adds a membership (idempotent) and returns the room's count, newest seq and epoch (made if none).
const JOIN = `
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
local epoch = redis.call('GET', KEYS[5])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[5], epoch, 'PX', ARGV[6])
  redis.call('SET', KEYS[4], 0, 'PX', ARGV[6])
end
return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[4]) or '0'), epoch}`

// Publishes a message: the room's next seq (a new epoch from seq 1 if its history was lost), kept
// in the room's stream (at most 2 x size), published in seq order; a resend within the ttl (same
// dedupe key) publishes nothing and returns the original.
const MESSAGE = `
if ARGV[10] == '1' then
  local sent = redis.call('GET', KEYS[4])
  if sent then return {0, sent} end
end
local epoch = redis.call('GET', KEYS[2])
if (not epoch) or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1], KEYS[3])
end
local seq = redis.call('INCR', KEYS[1])
local frame = ARGV[2] .. seq .. ARGV[3] .. epoch .. ARGV[4]
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[6], seq .. '-0', 't', ARGV[8], 'f', frame)
redis.call('SET', KEYS[2], epoch, 'PX', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
if ARGV[10] == '1' then redis.call('SET', KEYS[4], ARGV[9] .. ' ' .. seq .. ' ' .. epoch .. ' ' .. ARGV[11], 'PX', ARGV[7]) end
redis.call('PUBLISH', ARGV[5], '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. frame)
return {1, seq, epoch}`

const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return n`

// Removes everything a node recorded, if its heartbeat is gone (or if forced: a node rewriting
// itself). Atomic, so that of several sweepers exactly one gets (and announces) the removals.
// Returns room, clientId, client info, remaining count, for each membership removed.
const REAP = `
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local out = {}
for _, e in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local sep = string.find(e, '\\n', 1, true)
  local room = string.sub(e, 1, sep - 1)
  local cid = string.sub(e, sep + 1)
  local zkey = ARGV[3] .. room
  if redis.call('ZREM', zkey, cid) == 1 then
    local n = redis.call('ZCARD', zkey)
    if n == 0 then redis.call('SREM', KEYS[5], room) end
    table.insert(out, room)
    table.insert(out, cid)
    table.insert(out, redis.call('HGET', KEYS[4], cid) or '')
    table.insert(out, n)
  end
end
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local info = redis.call('HGET', KEYS[4], cid)
  if info and string.sub(info, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '\\n' then redis.call('HDEL', KEYS[4], cid) end
end
redis.call('DEL', KEYS[2], KEYS[3])
if ARGV[2] ~= '1' then redis.call('SREM', KEYS[6], ARGV[1]) end
return out`

type Message =
  | { t: 'cmd', id: string, from: string, clientId: string, command: RemoteCommand }
  | { t: 'stats', id: string, from: string }
  | { t: 'reply', id: string, result: unknown }

interface Pending {
  resolve (value: unknown): void
  timer: NodeJS.Timeout
  replies: unknown[]
  expected: number
}

function positive (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw new FST_CHAT_INVALID_OPTION(`adapter.${name}`, `must be a positive integer of ms (got ${String(value)})`)
  }
  return value
}

export class RedisAdapter implements ChatAdapter {
  readonly name = 'redis'
  /** This process's id in the cluster. */
  readonly nodeId = randomUUID()

  readonly #client: Redis
  readonly #ownsClient: boolean
  readonly #prefix: string
  readonly #timeout: number
  readonly #beatEvery: number
  readonly #nodeTimeout: number
  #sub: Redis | undefined
  readonly #node: AdapterNode
  readonly #log: FastifyBaseLogger
  #beat: NodeJS.Timeout | undefined
  #down = false
  #closed = false
  readonly #pending = new Map<string, Pending>()
  readonly #subscribing = new Map<string, Promise<unknown>>()
  readonly #onClientReady = (): void => { void this.#recovered() }
  readonly #onClientDown = (err?: Error): void => this.#lost(err)

  constructor (options: ResolvedRedisOptions, node: AdapterNode) {
    this.#client = options.client
    this.#ownsClient = options.ownsClient
    this.#prefix = options.prefix
    this.#timeout = options.requestTimeout
    this.#beatEvery = options.heartbeatInterval
    this.#nodeTimeout = options.nodeTimeout
    this.#node = node
    this.#log = node.log
  }

  // Key and channel names
  #k (name: string): string { return this.#prefix + name }
  #roomKey (room: string): string { return `${this.#prefix}room:${room}` }
  #roomChannel (room: string): string { return `${this.#prefix}ch:room:${room}` }
  #nodeChannel (id: string): string { return `${this.#prefix}ch:node:${id}` }
  #membersKey (id: string): string { return `${this.#prefix}node:${id}:members` }
  #clientsKey (id: string): string { return `${this.#prefix}node:${id}:clients` }
  #seqKey (room: string): string { return `${this.#prefix}seq:${room}` }
  #epochKey (room: string): string { return `${this.#prefix}epoch:${room}` }
  #historyKey (room: string): string { return `${this.#prefix}history:${room}` }

  #joinArgs (room: string, clientId: string, joinedAt: number): Array<string | number> {
    return [5, this.#roomKey(room), this.#k('rooms'), this.#membersKey(this.nodeId), this.#seqKey(room), this.#epochKey(room),
      clientId, joinedAt, room, `${room}\n${clientId}`, newEpoch(), this.#node.history.ttl]
  }

  /** Connects the subscriber, subscribes, and beats once (sweeping the dead): ready to serve. */
  async start (): Promise<void> {
    const client = this.#client
    client.on('ready', this.#onClientReady)
    client.on('close', this.#onClientDown)
    client.on('error', this.#onClientDown)

    // Named, so that an operator can tell (and a test can cut) this process's subscriber.
    const sub = this.#sub = client.duplicate({ enableOfflineQueue: false, lazyConnect: false, connectionName: `fastify-chat:sub:${this.nodeId}` })
    sub.on('message', (channel: string, message: string) => this.#message(channel, message))
    sub.on('ready', () => { void this.#resubscribe() })
    sub.on('error', (err: Error) => this.#lost(err))

    await Promise.all([this.#whenReady(client), this.#whenReady(sub)])
    await this.#resubscribe()
    // A first beat and sweep: this also removes the members of earlier runs that died.
    await this.#heartbeat()
    this.#beat = setInterval(() => { void this.#heartbeat() }, this.#beatEvery).unref()
  }

  /** Waits until a connection is ready, for at most the request timeout. */
  async #whenReady (redis: Redis): Promise<void> {
    if (redis.status === 'ready') return
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); redis.off('ready', done); resolve() }
      const timer = setTimeout(done, this.#timeout)
      redis.once('ready', done)
    })
  }

  /** Runs a Redis command, failing fast (and retryable) when Redis is unreachable. */
  async #run<T> (command: (client: Redis) => Promise<T>): Promise<T> {
    const client = this.#client
    if (client.status !== 'ready') throw new FST_CHAT_UNAVAILABLE(`Redis is ${client.status}`)
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        command(client),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new FST_CHAT_UNAVAILABLE(`no answer from Redis within ${this.#timeout} ms`)), this.#timeout)
        })
      ])
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_CHAT_UNAVAILABLE') throw err
      // A connection failure while the command was on its way.
      if (client.status !== 'ready') throw new FST_CHAT_UNAVAILABLE((err as Error).message)
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  #lost (err?: Error): void {
    if (this.#down || this.#closed) return
    this.#down = true
    this.#log?.warn({ err }, 'fastify-chat: Redis is unreachable; chat requests that need it are answered UNAVAILABLE until it is back')
  }

  async #recovered (): Promise<void> {
    if (!this.#down || this.#closed) return
    this.#down = false
    this.#log?.info('fastify-chat: Redis is back; rewriting this process\'s clients and members')
    try {
      await this.#rewrite()
    } catch (err) {
      this.#log?.error({ err }, 'fastify-chat: could not rewrite this process\'s members after Redis came back')
    }
  }

  async #resubscribe (): Promise<void> {
    const sub = this.#sub
    if (sub === undefined || sub.status !== 'ready' || this.#closed) return
    const channels = [this.#nodeChannel(this.nodeId), this.#k('ch:all')]
    for (const [room] of this.#node.membership.rooms()) channels.push(this.#roomChannel(room))
    try {
      await sub.subscribe(...channels)
    } catch (err) {
      this.#lost(err as Error)
      return
    }
    // Whatever was published while the subscriber was away never reached it: read it back.
    this.#node.resync()
  }

  /** Makes Redis hold exactly this process's clients and memberships again. */
  async #rewrite (): Promise<void> {
    const node = this.#node!
    const removed = await this.#reap(this.nodeId, true)
    const pipeline = this.#client.multi()
    pipeline.set(this.#k(`node:${this.nodeId}`), '1', 'PX', this.#nodeTimeout)
    pipeline.sadd(this.#k('nodes'), this.nodeId)
    const present = new Set<string>()
    for (const { clientId, userId } of node.localClients()) {
      pipeline.hset(this.#k('clients'), clientId, `${this.nodeId}\n${userId}`)
      pipeline.sadd(this.#clientsKey(this.nodeId), clientId)
    }
    for (const [room] of node.membership.rooms()) {
      for (const m of node.membership.membersOf(room)!.values()) {
        present.add(`${room}\n${m.clientId}`)
        pipeline.eval(JOIN, ...this.#joinArgs(room, m.clientId, m.joinedAt) as [number, ...string[]])
      }
    }
    await this.#run(() => pipeline.exec())
    await this.#resubscribe()
    // Those that left while Redis was away: the other processes never heard of it.
    for (const r of removed) {
      if (!present.has(`${r.room}\n${r.clientId}`)) node.lost(r.room, r.clientId, r.userId, r.members, 'closed')
    }
  }

  async #heartbeat (): Promise<void> {
    if (this.#closed) return
    try {
      const ids = await this.#run(async (c) => {
        const [, , members] = await c.multi()
          .set(this.#k(`node:${this.nodeId}`), '1', 'PX', this.#nodeTimeout)
          .sadd(this.#k('nodes'), this.nodeId)
          .smembers(this.#k('nodes'))
          .exec() as Array<[Error | null, unknown]>
        return members[1] as string[]
      })
      const others = ids.filter((id) => id !== this.nodeId)
      if (others.length === 0) return
      const alive = await this.#run((c) => {
        const p = c.pipeline()
        for (const id of others) p.exists(this.#k(`node:${id}`))
        return p.exec()
      })
      for (let i = 0; i < others.length; i++) {
        if (alive![i][1] === 1) continue
        const removed = await this.#reap(others[i], false)
        if (removed.length > 0) this.#log?.info({ node: others[i], members: removed.length }, 'fastify-chat: removed the members of a dead process')
        for (const r of removed) this.#node.lost(r.room, r.clientId, r.userId, r.members, 'timeout')
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'FST_CHAT_UNAVAILABLE') this.#log?.error({ err }, 'fastify-chat: heartbeat failed')
    }
  }

  async #reap (id: string, force: boolean): Promise<Array<{ room: string, clientId: string, userId: string, members: number }>> {
    const flat = await this.#run((c) => c.eval(REAP, 6,
      this.#k(`node:${id}`), this.#membersKey(id), this.#clientsKey(id), this.#k('clients'), this.#k('rooms'), this.#k('nodes'),
      id, force ? '1' : '0', this.#k('room:')) as Promise<Array<string | number>>)
    const out = []
    for (let i = 0; i < flat.length; i += 4) {
      const info = String(flat[i + 2])
      out.push({ room: String(flat[i]), clientId: String(flat[i + 1]), userId: info.slice(info.indexOf('\n') + 1), members: Number(flat[i + 3]) })
    }
    return out
  }

  #message (channel: string, message: string): void {
    const roomPrefix = this.#k('ch:room:')
    if (channel.startsWith(roomPrefix)) {
      // "<except>\n<seq>\n<epoch>\n<frame>", each of the first three possibly empty
      const a = message.indexOf('\n')
      const b = message.indexOf('\n', a + 1)
      const c = message.indexOf('\n', b + 1)
      const except = message.slice(0, a)
      const seq = message.slice(a + 1, b)
      this.#node.deliver(channel.slice(roomPrefix.length), message.slice(c + 1), except === '' ? undefined : except,
        seq === '' ? undefined : Number(seq), seq === '' ? undefined : message.slice(b + 1, c))
      return
    }
    let msg: Message
    try {
      msg = JSON.parse(message) as Message
    } catch {
      return
    }
    if (msg.t === 'reply') {
      const pending = this.#pending.get(msg.id)
      if (pending === undefined) return
      pending.replies.push(msg.result)
      if (pending.replies.length >= pending.expected) pending.resolve(pending.replies)
      return
    }
    if (msg.from === this.nodeId) return
    const reply = (result: unknown): void => {
      this.#client.publish(this.#nodeChannel(msg.from), JSON.stringify({ t: 'reply', id: msg.id, result })).catch(() => {})
    }
    if (msg.t === 'stats') {
      reply(this.#node.stats())
    } else if (msg.t === 'cmd') {
      this.#node.execute(msg.clientId, msg.command).then(reply, (err: unknown) => {
        this.#log?.warn({ err }, 'fastify-chat: a command from another process failed')
        reply('not-found')
      })
    }
  }

  /** Publishes a request and collects `expected` replies, or what came before the deadline. */
  async #request (channel: string, body: { t: 'cmd', clientId: string, command: RemoteCommand } | { t: 'stats' }, expectedOf: (receivers: number) => number): Promise<unknown[] | undefined> {
    const id = randomUUID()
    return await new Promise<unknown[] | undefined>((resolve, reject) => {
      const pending: Pending = {
        replies: [],
        expected: Infinity,
        timer: setTimeout(() => { this.#pending.delete(id); resolve(pending.replies) }, this.#timeout),
        resolve: (value) => { clearTimeout(pending.timer); this.#pending.delete(id); resolve(value as unknown[]) }
      }
      this.#pending.set(id, pending)
      this.#run((c) => c.publish(channel, JSON.stringify({ ...body, id, from: this.nodeId }))).then((receivers) => {
        pending.expected = expectedOf(receivers)
        if (pending.expected <= 0) pending.resolve(undefined)
        else if (pending.replies.length >= pending.expected) pending.resolve(pending.replies)
      }, (err: unknown) => {
        clearTimeout(pending.timer)
        this.#pending.delete(id)
        reject(err)
      })
    })
  }

  async connect (clientId: string, userId: string): Promise<void> {
    await this.#run((c) => c.multi()
      .hset(this.#k('clients'), clientId, `${this.nodeId}\n${userId}`)
      .sadd(this.#clientsKey(this.nodeId), clientId)
      .exec())
  }

  async disconnect (clientId: string): Promise<void> {
    await this.#run((c) => c.multi()
      .hdel(this.#k('clients'), clientId)
      .srem(this.#clientsKey(this.nodeId), clientId)
      .exec())
  }

  async join (room: string, member: Member): Promise<RoomState> {
    const registry = this.#node.membership
    // Subscribe before the membership is visible, so that nothing published after it is missed.
    let subscribing = this.#subscribing.get(room)
    if (subscribing === undefined && registry.count(room) === 1) {
      subscribing = this.#subscribe(room)
      this.#subscribing.set(room, subscribing)
      subscribing.finally(() => { if (this.#subscribing.get(room) === subscribing) this.#subscribing.delete(room) }).catch(() => {})
    }
    if (subscribing !== undefined) await subscribing
    const [members, seq, epoch] = await this.#run((c) => c.eval(JOIN, ...this.#joinArgs(room, member.clientId, member.joinedAt) as [number, ...string[]]) as Promise<[number, number, string]>)
    return { members, seq, epoch }
  }

  async #subscribe (room: string): Promise<void> {
    const sub = this.#sub!
    if (sub.status !== 'ready') throw new FST_CHAT_UNAVAILABLE(`Redis is ${sub.status}`)
    try {
      await sub.subscribe(this.#roomChannel(room))
    } catch (err) {
      throw new FST_CHAT_UNAVAILABLE((err as Error).message)
    }
  }

  async leave (room: string, clientId: string): Promise<number> {
    const count = await this.#run((c) => c.eval(LEAVE, 3, this.#roomKey(room), this.#k('rooms'), this.#membersKey(this.nodeId),
      clientId, room, `${room}\n${clientId}`) as Promise<number>)
    if (this.#node.membership.count(room) === 0 && this.#sub?.status === 'ready') {
      await this.#sub.unsubscribe(this.#roomChannel(room)).catch(() => {})
    }
    return count
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    await this.#run((c) => c.publish(this.#roomChannel(room), `${except ?? ''}\n\n\n${frame}`))
  }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    const { size, ttl } = this.#node.history
    const dedupe = draft.dedupe === undefined ? undefined : this.#k(`dedupe:${draft.dedupe}`)
    const result = await this.#run((c) => c.eval(MESSAGE, 4,
      this.#seqKey(room), this.#epochKey(room), this.#historyKey(room), dedupe ?? this.#epochKey(room),
      newEpoch(), draft.head, draft.mid, draft.tail, this.#roomChannel(room), 2 * size, ttl, Date.now(), draft.id,
      dedupe === undefined ? '0' : '1', draft.digest ?? '') as Promise<[number, string] | [number, number, string]>)
    if (result[0] === 0) {
      // "<id> <seq> <epoch> <digest>" of the first send (the digest may be empty)
      const [id, seq, epoch, digest = ''] = String(result[1]).split(' ')
      return { status: digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id, seq: Number(seq), epoch }
    }
    return { status: 'sent', id: draft.id, seq: Number(result[1]), epoch: String(result[2]) }
  }

  /** Stream entries to messages, oldest first, dropping those older than the ttl. */
  #entries (raw: Array<[string, string[]]>): Array<{ seq: number, at: number, text: string }> {
    const oldest = Date.now() - this.#node.history.ttl
    const out = []
    for (const [id, fields] of raw) {
      let at = 0
      let text = ''
      for (let i = 0; i < fields.length; i += 2) {
        if (fields[i] === 't') at = Number(fields[i + 1])
        else if (fields[i] === 'f') text = fields[i + 1]
      }
      if (at >= oldest) out.push({ seq: Number(id.slice(0, id.indexOf('-'))), at, text })
    }
    return out
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const { size } = this.#node.history
    const [e, s, entries] = await this.#run(async (c) => {
      const r = await c.multi()
        .get(this.#epochKey(room))
        .get(this.#seqKey(room))
        .xrange(this.#historyKey(room), `${seq + 1}-0`, '+', 'COUNT', 2 * size + 1)
        .exec() as Array<[Error | null, unknown]>
      return [r[0][1] as string | null, Number(r[1][1] ?? 0), r[2][1] as Array<[string, string[]]>]
    })
    if (e === null || e !== epoch || seq > s) return { recovered: false }
    if (seq === s) return { recovered: true, messages: [] }
    const messages = this.#entries(entries)
    if (messages.length === 0 || messages[0].seq !== seq + 1) return { recovered: false }
    return { recovered: true, messages }
  }

  async history (room: string, { after, before, limit }: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const key = this.#historyKey(room)
    const [epoch, raw] = await this.#run(async (c) => {
      const m = c.multi().get(this.#epochKey(room))
      if (before !== undefined) m.xrevrange(key, `(${before}-0`, '-', 'COUNT', limit)
      else m.xrange(key, `${(after ?? 0) + 1}-0`, '+', 'COUNT', limit)
      const r = await m.exec() as Array<[Error | null, unknown]>
      return [r[0][1] as string | null, r[1][1] as Array<[string, string[]]>]
    })
    if (before !== undefined) raw.reverse()
    return { epoch: epoch ?? '', messages: this.#entries(raw).map((m) => m.text) }
  }

  async rooms (): Promise<RoomInfo[]> {
    const names = await this.#run((c) => c.smembers(this.#k('rooms')))
    if (names.length === 0) return []
    const counts = await this.#run((c) => {
      const p = c.pipeline()
      for (const name of names) p.zcard(this.#roomKey(name))
      return p.exec()
    })
    const rooms: RoomInfo[] = []
    names.forEach((name, i) => {
      const members = Number(counts![i][1])
      if (members > 0) rooms.push({ name, members })
    })
    return rooms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async room (name: string): Promise<RoomInfo | null> {
    const members = await this.#run((c) => c.zcard(this.#roomKey(name)))
    return members === 0 ? null : { name, members }
  }

  async members (name: string): Promise<MemberInfo[]> {
    const flat = await this.#run((c) => c.zrange(this.#roomKey(name), '0', '-1', 'WITHSCORES'))
    if (flat.length === 0) return []
    const ids: string[] = []
    for (let i = 0; i < flat.length; i += 2) ids.push(flat[i])
    const infos = await this.#run((c) => c.hmget(this.#k('clients'), ...ids))
    const members: MemberInfo[] = []
    for (let i = 0; i < ids.length; i++) {
      const info = infos[i]
      // A member whose client record is gone is being removed: leave it out.
      if (info === null) continue
      members.push({ clientId: ids[i], userId: info.slice(info.indexOf('\n') + 1), joinedAt: Number(flat[2 * i + 1]) })
    }
    return members
  }

  /** Tickets in Redis: minted on one process, redeemed once on any (GETDEL). */
  readonly tickets: TicketStore = {
    issue: async (ticket, claims, ttl) => { await this.#run((c) => c.set(this.#k(`ticket:${ticket}`), claims, 'PX', ttl)) },
    redeem: async (ticket) => await this.#run((c) => c.getdel(this.#k(`ticket:${ticket}`)))
  }

  async command (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    const info = await this.#run((c) => c.hget(this.#k('clients'), clientId))
    if (info === null) return 'not-found'
    const node = info.slice(0, info.indexOf('\n'))
    if (node === this.nodeId) return 'not-found'
    const replies = await this.#request(this.#nodeChannel(node), { t: 'cmd', clientId, command }, (receivers) => receivers === 0 ? 0 : 1)
    if (replies === undefined) return 'not-found'
    return replies.length === 0 ? 'timeout' : replies[0] as RemoteResult
  }

  async stats (local: ChatStats): Promise<ChatStats> {
    const replies = await this.#request(this.#k('ch:all'), { t: 'stats' }, (receivers) => receivers - 1) ?? []
    const total = { ...local }
    for (const r of replies as ChatStats[]) {
      total.connections += r.connections
      total.members += r.members
      total.messagesIn += r.messagesIn
      total.messagesOut += r.messagesOut
    }
    total.rooms = await this.#run((c) => c.scard(this.#k('rooms')))
    return total
  }

  async close (): Promise<void> {
    if (this.#closed) return
    clearInterval(this.#beat)
    try {
      // Whatever this process still holds (normally nothing: its connections have left).
      const removed = await this.#reap(this.nodeId, true)
      for (const r of removed) this.#node.lost(r.room, r.clientId, r.userId, r.members, 'closed')
      await this.#run((c) => c.multi().del(this.#k(`node:${this.nodeId}`)).srem(this.#k('nodes'), this.nodeId).exec())
    } catch (err) {
      this.#log?.warn({ err }, 'fastify-chat: could not remove this process from Redis on close (its heartbeat will expire)')
    }
    this.#closed = true
    for (const pending of this.#pending.values()) pending.resolve(pending.replies)
    this.#client.off('ready', this.#onClientReady)
    this.#client.off('close', this.#onClientDown)
    this.#client.off('error', this.#onClientDown)
    this.#sub?.disconnect()
    if (this.#ownsClient) await this.#client.quit().catch(() => this.#client.disconnect())
  }
}

interface ResolvedRedisOptions {
  client: Redis
  ownsClient: boolean
  prefix: string
  requestTimeout: number
  heartbeatInterval: number
  nodeTimeout: number
}

/** Checks the options once, when `redisAdapter()` is called: a bad one throws at once, naming it. */
function resolveRedisOptions (options: RedisAdapterOptions): Omit<ResolvedRedisOptions, 'client' | 'ownsClient'> & { client?: Redis, url?: string } {
  if (options === null || typeof options !== 'object') throw new FST_CHAT_INVALID_OPTION('adapter', 'redisAdapter() takes { client } or { url }')
  if (options.client !== undefined) {
    if (typeof (options.client as { duplicate?: unknown }).duplicate !== 'function') {
      throw new FST_CHAT_INVALID_OPTION('adapter.client', 'must be an ioredis client')
    }
  } else if (typeof options.url !== 'string' || options.url === '') {
    throw new FST_CHAT_INVALID_OPTION('adapter.client', 'redisAdapter() needs { client } (an ioredis client) or { url }')
  }
  const prefix = options.prefix ?? 'fastify-chat:'
  if (typeof prefix !== 'string' || prefix === '') throw new FST_CHAT_INVALID_OPTION('adapter.prefix', 'must be a non-empty string')
  const heartbeatInterval = positive('heartbeatInterval', options.heartbeatInterval, 2000)
  const nodeTimeout = positive('nodeTimeout', options.nodeTimeout, 10000)
  if (nodeTimeout <= heartbeatInterval) {
    throw new FST_CHAT_INVALID_OPTION('adapter.nodeTimeout', `must be longer than heartbeatInterval (${heartbeatInterval} ms)`)
  }
  return { client: options.client, url: options.url, prefix, requestTimeout: positive('requestTimeout', options.requestTimeout, 2000), heartbeatInterval, nodeTimeout }
}

/**
 * The Redis adapter. Pass the host's ioredis client (`{ client }`, never quit by the adapter) or a
 * URL (`{ url }`: the adapter makes its client when the plugin starts and quits it on close); see
 * `RedisAdapterOptions` for the rest. Bad options throw here, naming the option.
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

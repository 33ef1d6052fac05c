// Several Fastify instances in one test process as the processes of one chat, on each backend: a
// shared memory bus, one Redis, a Redis Cluster.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRedis from '@fastify/redis'
import Redis from 'ioredis'
import chatPlugin, { redisAdapter } from '../lib/index.js'
import { adapters, BACKENDS, processes } from './backends.js'
import { adminToken, connect, SECRET, token, withoutEpoch } from './helpers.js'
import { dropPrefix, REDIS_CLUSTER_NODES, REDIS_URL, redisReady, testPrefix, until } from './redis-helpers.js'

const auth = { authorization: `Bearer ${token({ sub: 'reader' })}` }
const admin = { authorization: `Bearer ${adminToken()}` }

for (const backend of BACKENDS) {
  t.test(backend.name, async (t) => {
    if (!await backend.ready(t)) return
    const cluster = async (t: any, n: number, options = {}) => await processes(t, backend, n, options)

    t.test('a resume of the default room right after its automatic join: the missed ones once, the live one not again', async (t) => {
      const [a, b] = await cluster(t, 2)
      const sender = await connect(a, token({ sub: 'sender' }))
      const seen = (await sender.request({ action: 'message', room: 'lobby', content: 'seen', ref: 'r0' })).seq
      for (let i = 1; i <= 3; i++) await sender.request({ action: 'message', room: 'lobby', content: `missed ${i}`, ref: `r${i}` })
      // A reader back on the other process: put in the lobby at connect, a live message reaches it
      // before its own resume of the lobby (as the typed client sends it) arrives.
      const back = await connect(b, token({ sub: 'reader' }), { defaultRoom: false })
      const joined = await back.next('joined')
      await sender.request({ action: 'message', room: 'lobby', content: 'live', ref: 'l' })
      t.match(await back.next('message'), { content: 'live', seq: seen + 4 })
      back.send({ action: 'join', room: 'lobby', since: { seq: seen, epoch: joined.epoch }, ref: 'resume' })
      t.match(await back.next((f) => f.ref === 'resume'), { recovered: true })
      await sender.request({ action: 'message', room: 'lobby', content: 'after', ref: 'a' })
      const got = []
      for (let i = 0; i < 4; i++) got.push(await back.next('message'))
      t.same(got.map((m) => m.content), ['missed 1', 'missed 2', 'missed 3', 'after'])
      t.same(got.map((m) => m.seq), [seen + 1, seen + 2, seen + 3, seen + 5])
      await back.barrier()
      t.equal(back.queue.filter((f) => f.type === 'message').length, 0, 'nothing twice')
      sender.close(); back.close()
    })

    t.test('messages reach every member on every process exactly once, in order', async (t) => {
      const [a, b] = await cluster(t, 2)
      const alice = await connect(a, token({ sub: 'alice' }))
      const bob = await connect(b, token({ sub: 'bob' }))
      const carol = await connect(a, token({ sub: 'carol' }))
      t.match(await alice.next('userJoined'), { userId: 'bob' }, 'presence crosses processes')
      // 35: within the default burst of 40 frames
      for (let i = 0; i < 35; i++) alice.send({ action: 'message', room: 'lobby', content: `m${i}`, ref: i })
      for (const c of [alice, bob, carol]) {
        for (let i = 0; i < 35; i++) t.equal((await c.next('message')).content, `m${i}`)
      }
      for (let i = 0; i < 35; i++) t.equal((await alice.next('ack')).ref, i)
      await Promise.all([alice, bob, carol].map((c) => c.barrier()))
      for (const c of [alice, bob, carol]) t.equal(c.queue.filter((f) => f.type === 'message').length, 0, 'no duplicates')
      alice.close(); bob.close(); carol.close()
    })

    t.test('counts, rooms and members are cluster-wide', async (t) => {
      const [a, b] = await cluster(t, 2)
      const alice = await connect(a, token({ sub: 'alice' }))
      const bob = await connect(b, token({ sub: 'bob' }), { defaultRoom: false })
      t.match(await bob.next('joined'), { room: 'lobby', members: 2 }, "joined counts the other process's members")
      t.match(await bob.request({ action: 'join', room: 'zz' }), { members: 1 })
      for (const app of [a, b]) {
        t.same((await app.inject({ url: '/rooms', headers: auth })).json(), { rooms: [{ name: 'lobby', members: 2 }, { name: 'zz', members: 1 }] })
        t.same((await app.inject({ url: '/rooms/zz', headers: auth })).json(), { name: 'zz', members: 1 })
        const members = (await app.inject({ url: '/rooms/lobby/members', headers: auth })).json().members
        t.same(members.map((m: any) => [m.clientId, m.userId]), [[alice.id, 'alice'], [bob.id, 'bob']], 'in join order')
        t.same((await app.chat.members('zz')).map((m) => m.userId), ['bob'])
        t.match(await app.chat.stats(), { connections: 2, rooms: 2, members: 3 })
      }
      bob.ws.close()
      t.match(await alice.next('userLeft'), { userId: 'bob', reason: 'closed' })
      await until(async () => (await a.chat.room('zz')) === null, 5000, 'zz emptied')
      t.same(await a.chat.rooms(), [{ name: 'lobby', members: 1 }])
      alice.close()
    })

    t.test('join, leave and disconnect act on a client held by another process', async (t) => {
      const [a, b] = await cluster(t, 2)
      const alice = await connect(a, token({ sub: 'alice' }))
      const bob = await connect(b, token({ sub: 'bob' }))
      await alice.next('userJoined')
      t.equal((await a.inject({ method: 'PUT', url: `/rooms/ops/members/${bob.id}`, headers: admin })).statusCode, 204)
      t.same(withoutEpoch(await bob.next('joined')), { type: 'joined', room: 'ops', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0 })
      t.equal(await a.chat.join(bob.id, 'ops'), false, 'already a member')
      await bob.next('joined')
      t.equal((await a.inject({ method: 'DELETE', url: `/rooms/ops/members/${bob.id}`, headers: admin })).statusCode, 204)
      t.same(await bob.next('left'), { type: 'left', room: 'ops', members: 0, reason: 'removed' })
      t.equal((await a.inject({ method: 'DELETE', url: `/rooms/ops/members/${bob.id}`, headers: admin })).statusCode, 404, 'not a member')
      t.equal((await a.inject({ method: 'PUT', url: '/rooms/ops/members/nobody', headers: admin })).statusCode, 404, 'no such client anywhere')
      t.equal(await a.chat.disconnect(bob.id, 4002, 'kicked'), true)
      t.same(await bob.closed, { code: 4002, reason: 'kicked' })
      t.match(await alice.next('userLeft'), { userId: 'bob', reason: 'closed' })
      alice.close()
    })

    t.test('a graceful close removes its members before it resolves', async (t) => {
      const [a, b] = await cluster(t, 2)
      const alice = await connect(a, token({ sub: 'alice' }))
      const bob = await connect(b, token({ sub: 'bob' }))
      await alice.next('userJoined')
      await b.close()
      t.same((await a.chat.members('lobby')).map((m) => m.userId), ['alice'], 'gone as soon as close() resolved')
      t.match(await alice.next('userLeft'), { userId: 'bob', reason: 'closed' })
      t.equal((await bob.closed).code, 1001)
      alice.close()
    })

    if (backend.redis) {
    /** Redis servers to ask: the one, or every master of the cluster. */
      const servers = (): Redis[] => backend.name === 'redis' ? [new Redis(REDIS_URL)] : REDIS_CLUSTER_NODES.map((n) => new Redis(n.port, n.host))

      t.test('a process only subscribes to rooms it has members in', async (t) => {
        const [a, b] = await cluster(t, 2)
        const alice = await connect(a, token({ sub: 'alice' }), { defaultRoom: false })
        await alice.next('joined')
        const probes = servers()
        t.after(() => { for (const p of probes) p.disconnect() })
        // Redis 7 and Redis Cluster: rooms are sharded channels (SSUBSCRIBE), on the room's shard.
        const subscribers = async (): Promise<number> => {
          let n = 0
          for (const p of probes) {
            const channels = await p.call('PUBSUB', 'SHARDCHANNELS', '*{r:only-a}:c') as string[]
            if (channels.length > 0) n += Number(((await p.call('PUBSUB', 'SHARDNUMSUB', ...channels)) as Array<string | number>)[1])
          }
          return n
        }
        await alice.request({ action: 'join', room: 'only-a' })
        t.equal(await subscribers(), 1, 'one process subscribed to the room')
        await alice.request({ action: 'leave', room: 'only-a' })
        await until(async () => await subscribers() === 0, 5000, 'unsubscribed')
        t.pass('unsubscribed when its last member left')
        void b
        alice.close()
      })

      t.test('a subscriber cut mid-burst: every member on both processes still gets every message once, in order', async (t) => {
        const [a, b] = await cluster(t, 2, { rateLimit: false })
        const alice = await connect(a, token({ sub: 'alice' }))
        const bob = await connect(b, token({ sub: 'bob' }))
        const carol = await connect(b, token({ sub: 'carol' }))
        await alice.next((f) => f.type === 'userJoined' && f.userId === 'carol')
        const probes = servers()
        t.after(() => { for (const p of probes) p.disconnect() })
        // The subscriber connections of both processes, on every server ("<server>#<id>").
        const subscriberIds = async (): Promise<string[]> => {
          const names = [a, b].map((app) => `fastify-chat:sub:${adapters.get(app)!.nodeId}`)
          const ids: string[] = []
          for (const [i, p] of probes.entries()) {
            const list = await p.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string
            for (const l of list.split('\n')) {
              const name = / name=(\S*)/.exec(l)?.[1] ?? ''
              if (names.some((n) => name.includes(n))) ids.push(`${i}#${/^id=(\d+)/.exec(l)![1]}`)
            }
          }
          return ids.sort()
        }
        const before = await subscriberIds()
        t.ok(before.length >= 2, `both processes have named subscribers (${before.length})`)
        const total = 60
        for (let i = 0; i < total; i++) {
          alice.send({ action: 'message', room: 'lobby', content: `m${i}`, ref: i })
          if (i === 20) {
          // Cut every subscriber while the burst is on its way: what is published until they are
          // back never reaches them over pub/sub.
            for (const id of before) {
              const [server, clientId] = id.split('#')
              await probes[Number(server)].call('CLIENT', 'KILL', 'ID', clientId)
            }
          }
        }
        for (let i = 0; i < total; i++) await alice.next((f) => f.type === 'ack' && f.ref === i, 10_000)
        await until(async () => (await subscriberIds()).length >= before.length && (await subscriberIds()).every((id) => !before.includes(id)), 10_000, 'the subscribers back')
        t.pass('the subscribers were really cut and came back')
        for (const c of [alice, bob, carol]) {
          const got: number[] = []
          for (let i = 0; i < total; i++) got.push((await c.next('message', 10_000)).seq)
          t.same(got, Array.from({ length: total }, (_, i) => got[0] + i), `${c.welcome!.userId}: every message, in seq order`)
        }
        // Another message after the repair, then nothing else: no copies came.
        await alice.request({ action: 'message', room: 'lobby', content: 'after' })
        for (const c of [alice, bob, carol]) {
          t.match(await c.next('message'), { content: 'after' })
          await c.barrier()
          t.equal(c.queue.filter((f) => f.type === 'message').length, 0, `${c.welcome!.userId}: no duplicates`)
        }
        alice.close(); bob.close(); carol.close()
      })
    }

    t.test('history across processes: resume on another process, effectively-once resends', async (t) => {
      const [a, b] = await cluster(t, 2, { rateLimit: false })
      await historyAcross(t, a, b)
    })

    t.test('a ticket minted on one process opens a socket on another, once', async (t) => {
      const [a, b] = await cluster(t, 2)
      const { ticket } = (await a.inject({ method: 'POST', url: '/chat/tickets', headers: { authorization: `Bearer ${token({ sub: 'roamer' })}` } })).json()
      const c = await connect(b, '', { path: `/chat?ticket=${ticket}`, headers: { authorization: '' } })
      t.equal(c.welcome!.userId, 'roamer')
      await t.rejects(a.injectWS(`/chat?ticket=${ticket}`), /401/, 'used once, cluster-wide')
      c.close()
    })

    t.test('maxConnectionsPerUser counts the connections on every process', async (t) => {
      const [a, b] = await cluster(t, 2, { maxConnectionsPerUser: 2 })
      const one = await connect(a, token({ sub: 'busy' }))
      const two = await connect(b, token({ sub: 'busy' }))
      await t.rejects(a.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'busy' })}` } }), /429/, 'a third, on either process')
      await t.rejects(b.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'busy' })}` } }), /429/)
      one.close()
      await until(async () => await b.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'busy' })}` } }).then((ws) => { ws.terminate(); return true }, () => false), 5000, 'a place freed')
      t.pass('a closed connection frees its place everywhere')
      two.close()
    })
  })
}

t.test('host clients: never quit by the adapter; @fastify/redis shared', async (t) => {
  if (!await redisReady(t)) return
  const prefix = testPrefix()
  t.after(() => dropPrefix(prefix))

  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.after(() => client.disconnect())
  const plain = Fastify({ logger: false })
  await plain.register(chatPlugin, { jwt: { secret: SECRET }, heartbeatInterval: 0, admission: false, adapter: redisAdapter({ client, prefix }) })
  await plain.ready()

  const shared = Fastify({ logger: false })
  await shared.register(fastifyRedis, { url: REDIS_URL })
  await shared.register(chatPlugin, { jwt: { secret: SECRET }, heartbeatInterval: 0, admission: false, adapter: redisAdapter({ client: shared.redis, prefix }) })
  await shared.ready()

  const alice = await connect(plain, token({ sub: 'alice' }))
  const bob = await connect(shared, token({ sub: 'bob' }))
  t.match(await alice.next('userJoined'), { userId: 'bob' })
  bob.send({ action: 'message', room: 'lobby', content: 'via @fastify/redis' })
  t.match(await alice.next('message'), { content: 'via @fastify/redis', userId: 'bob' })

  await shared.close()
  t.match(await alice.next('userLeft'), { userId: 'bob', reason: 'closed' }, '@fastify/redis closes its client after the chat left')
  await plain.close()
  t.equal(client.status, 'ready', "the host's client is still open after the plugin closed")
  t.equal(await client.ping(), 'PONG')
})

t.test('a process that does not answer in time: 504, never a hang', async (t) => {
  if (!await redisReady(t)) return
  const prefix = testPrefix()
  t.after(() => dropPrefix(prefix))
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.after(() => client.disconnect())
  const app = Fastify({ logger: false })
  t.after(() => app.close())
  await app.register(chatPlugin, { jwt: { secret: SECRET }, heartbeatInterval: 0, admission: false, adapter: redisAdapter({ client, prefix, requestTimeout: 300 }) })
  await app.ready()
  // A "process" alive by its heartbeat, listening on its inbox, that never answers. A clientId
  // names its process ("<node>.<random>"), so that is all it takes to hold one.
  const mute = new Redis(REDIS_URL)
  t.after(() => mute.disconnect())
  await mute.ssubscribe(`${prefix}{n:mute-node}:c`)
  await client.zadd(`${prefix}nodes`, Date.now() + 60_000, 'mute-node')
  const started = Date.now()
  const res = await app.inject({ method: 'PUT', url: '/rooms/x/members/mute-node.held', headers: admin })
  t.equal(res.statusCode, 504)
  t.equal(res.json().code, 'FST_CHAT_TIMEOUT')
  t.ok(Date.now() - started < 2000, 'answered after the request timeout')
  await t.rejects(app.chat.disconnect('mute-node.held'), { code: 'FST_CHAT_TIMEOUT' })
  // A process that is not alive holds nothing: at once, no request goes out.
  t.equal((await app.inject({ method: 'PUT', url: '/rooms/x/members/gone-node.held', headers: admin })).statusCode, 404)
  await client.zrem(`${prefix}nodes`, 'mute-node')
})

/** A member resumes on another process; a sender's resend is effectively once across processes. */
async function historyAcross (t: any, a: FastifyInstance, b: FastifyInstance): Promise<void> {
  const sender = await connect(a, token({ sub: 'sender' }))
  const reader = await connect(b, token({ sub: 'reader' }), { defaultRoom: false })
  const joined = await reader.next('joined')
  const first = await sender.request({ action: 'message', room: 'lobby', content: 'one', ref: 'id-1' })
  t.match(first, { type: 'ack', seq: joined.seq + 1 })
  const seen = await reader.next('message')
  t.match(seen, { seq: first.seq, epoch: joined.epoch, content: 'one' })
  reader.ws.terminate()
  for (let i = 0; i < 10; i++) sender.send({ action: 'message', room: 'lobby', content: `missed ${i}` })
  for (let i = 0; i < 10; i++) await sender.next((f) => f.type === 'message' && f.content === `missed ${i}`)

  // Back on the other process, resuming from the last seq it saw.
  const back = await connect(a, token({ sub: 'reader' }), { defaultRoom: false })
  await back.next('joined')
  back.send({ action: 'join', room: 'lobby', since: { seq: seen.seq, epoch: seen.epoch }, ref: 'r' })
  for (let i = 0; i < 5; i++) sender.send({ action: 'message', room: 'lobby', content: `live ${i}` })
  t.match(await back.next((f) => f.ref === 'r'), { type: 'joined', recovered: true })
  const got = []
  for (let i = 0; i < 15; i++) got.push(await back.next('message'))
  t.same(got.map((m) => m.seq), Array.from({ length: 15 }, (_, i) => seen.seq + 1 + i), 'all missed, then live: once each, in order')

  // The sender, reconnected to the other process, resends its first message.
  const resender = await connect(b, token({ sub: 'sender' }))
  t.same(await resender.request({ action: 'message', room: 'lobby', content: 'one', ref: 'id-1' }), first, 'the original ack')
  t.match(await resender.request({ action: 'message', room: 'lobby', content: 'one again', ref: 'id-1' }), { type: 'error', code: 'REF_REUSED', ref: 'id-1' },
    'the same ref with other content is refused on the other process too')
  await back.barrier()
  t.same(back.queue.filter((f) => f.type === 'message').map((m) => `${m.seq}:${m.content}`), [], 'nothing delivered for the resend')
  t.same((await b.chat.history('lobby', { after: first.seq - 1, limit: 1 })).messages.map((m) => m.content), ['one'], 'history from any process')
  sender.close(); back.close(); resender.close()
}

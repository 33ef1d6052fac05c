// A subscriber that stays broken is made anew: here the host's client gives up reconnecting (its
// retryStrategy), as ioredis's sharded subscribers of a cluster can stay ended after a reset that
// came with a failover (the chaos run found a process that heard no room again). Once Redis is
// reachable, the process hears its rooms again within the watchdog's wait.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { redisAdapter } from '../lib/index.js'
import { FaultProxy } from '../chaos/proxy.js'
import { messageDraft } from '../lib/core/message.js'
import { fakeNode } from './adapter-contract.js'
import { SECRET, connect, token } from './helpers.js'
import { dropPrefix, REDIS_URL, redisReady, testPrefix, until } from './redis-helpers.js'

async function app (t: Test, client: Redis, prefix: string): Promise<FastifyInstance> {
  const a = Fastify({ logger: process.env.LOG === undefined ? false : { level: process.env.LOG } })
  t.teardown(async () => { await a.close(); client.disconnect() })
  await a.register(chatPlugin, { jwt: { secret: SECRET }, heartbeatInterval: 0, admission: false, rateLimit: false, adapter: redisAdapter({ client, prefix, requestTimeout: 500 }) })
  await a.ready()
  return a
}

t.test('a subscriber whose connection gave up is made anew: the process hears its rooms again', async (t) => {
  if (!await redisReady(t)) return
  const prefix = testPrefix()
  t.teardown(async () => await dropPrefix(prefix))
  const url = new URL(REDIS_URL)
  const proxy = new FaultProxy({ host: url.hostname, port: Number(url.port || 6379) })
  await proxy.listen()
  t.teardown(() => proxy.close())
  const healthy = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  // Two quick tries, then ioredis gives up: the connection ends for good.
  const fragile = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: (times) => (times > 2 ? null : 50) })
  for (const c of [healthy, fragile]) c.on('error', () => {})
  const a = await app(t, healthy, prefix)
  const b = await app(t, fragile, prefix)
  const alice = await connect(a, token({ sub: 'alice' }))
  const bob = await connect(b, token({ sub: 'bob' }))
  t.match(await alice.request({ action: 'message', room: 'lobby', content: 'one' }), { type: 'ack' })
  t.match(await bob.next('message'), { content: 'one' })

  proxy.mode = { kind: 'reset' }
  await until(() => fragile.status === 'end', 5000, 'the host\'s client gave up')
  proxy.mode = { kind: 'pass' }
  // The host's client is gone for good (its own choice): only the subscriber is made anew, so
  // what is published from now on is heard; A keeps sending until bob hears one.
  let k = 0
  await until(async () => {
    await alice.request({ action: 'message', room: 'lobby', content: `after ${++k}` })
    return bob.queue.some((f) => f.type === 'message' && String(f.content).startsWith('after'))
  }, 15_000, 'bob hears the room again')
  t.pass(`heard again after ${k} messages`)
  alice.close(); bob.close()
})

t.test('a room this process published to and did not hear back is read again (and its channel subscribed again)', async (t) => {
  if (!await redisReady(t)) return
  const prefix = testPrefix()
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(async () => { client.disconnect(); await dropPrefix(prefix) })
  // A node that never hears its rooms: it holds no position in them (as with a lost subscription).
  const resyncs: Array<string | undefined> = []
  const node = { ...fakeNode(), position: () => undefined, resync: (room?: string) => { resyncs.push(room) } }
  const adapter = await redisAdapter({ client, prefix, heartbeatInterval: 60_000, nodeTimeout: 120_000 })(node)
  t.teardown(async () => await adapter.close())
  const member = { clientId: `${node.id}.c1`, userId: 'u1', joinedAt: 1 }
  node.membership.add('quiet', member)
  await adapter.join('quiet', member)
  await adapter.publishMessage('quiet', messageDraft('quiet', { from: member.clientId, userId: 'u1' }, 'hello', undefined, undefined, Date.now()))
  await until(() => resyncs.length > 0, 6000, 'the room read again')
  t.same(resyncs, ['quiet'], 'that room only, within a few seconds')
})

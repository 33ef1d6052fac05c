// The Redis command deadline (health.ts): a command that never answers (BLPOP with no timeout, on a
// real Redis) fails with UNAVAILABLE once its deadline has passed; answers, many at once, and
// Redis's own errors pass through as they are; a connection that is not ready fails at once; the
// deadline of a room's call counts from when its oldest request was asked, not from when it left.
import { once } from 'node:events'
import t from 'tap'
import Fastify from 'fastify'
import Redis from 'ioredis'
import { Health } from '../lib/adapter/redis/health.js'
import { RoomLanes } from '../lib/adapter/redis/room-lane.js'
import { REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

t.test('a command that hangs fails with UNAVAILABLE after the timeout; the rest answer as they are', async (t) => {
  if (!await redisReady(t)) return
  const log = Fastify({ logger: false }).log
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.after(() => client.disconnect())
  if (client.status !== 'ready') await once(client, 'ready')
  const health = new Health(client, 200, log, () => {})
  t.after(() => health.close())

  t.equal(await health.run(async (c) => await c.ping()), 'PONG')
  const failed = await health.run(async (c) => await c.call('NO-SUCH-COMMAND')).then(() => undefined, (err: { code?: string, message: string }) => err)
  t.match(failed?.message, /unknown command/i, 'an error of the command itself passes through')
  t.not(failed?.code, 'FST_CHAT_UNAVAILABLE', 'and is not UNAVAILABLE')
  const many = await Promise.all(Array.from({ length: 100 }, async (_, i) => await health.run(async (c) => await c.echo(String(i)))))
  t.same(many, Array.from({ length: 100 }, (_, i) => String(i)), '100 commands in flight, every answer to its own')

  const started = Date.now()
  await t.rejects(health.run(async (c) => await c.blpop(`${testPrefix()}never`, 0)), { code: 'FST_CHAT_UNAVAILABLE', message: /within 200 ms/ }, 'no answer: UNAVAILABLE')
  t.ok(Date.now() - started >= 190, 'not before its deadline')
})

t.test('a closed connection: UNAVAILABLE at once', async (t) => {
  if (!await redisReady(t)) return
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true })
  const health = new Health(client, 200, Fastify({ logger: false }).log, () => {})
  t.after(() => health.close())
  await t.rejects(health.run(async (c) => await c.ping()), { code: 'FST_CHAT_UNAVAILABLE', message: /Redis is wait/ })
})

t.test('a cluster changing under a command is UNAVAILABLE (retryable), not a bug that closes the socket', async (t) => {
  if (!await redisReady(t)) return
  // Replies the chaos run got through ioredis while a slot moved, and ioredis's own error for an
  // auto-pipeline whose keys a moved slot split: before, they closed the sender's socket with 1011.
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.after(() => client.disconnect())
  if (client.status !== 'ready') await once(client, 'ready')
  const health = new Health(client, 1000, Fastify({ logger: false }).log, () => {})
  t.after(() => health.close())
  for (const message of ['ASK 2497 127.0.0.1:7302', 'MOVED 2497 127.0.0.1:7302', 'TRYAGAIN Multiple keys request during rehashing of slot',
    'All keys in the pipeline should belong to the same slots allocation group', 'CLUSTERDOWN The cluster is down']) {
    await t.rejects(health.run(async () => { throw new Error(message) }), { code: 'FST_CHAT_UNAVAILABLE' }, message)
  }
  await t.rejects(health.run(async () => { throw new Error('ERR ASK me something') }), { message: 'ERR ASK me something' }, 'not any error that says ASK')
})

t.test('a room\'s call has its deadline from when its oldest request was asked: time spent behind the previous call counts', async (t) => {
  if (!await redisReady(t)) return
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.after(() => client.disconnect())
  if (client.status !== 'ready') await once(client, 'ready')
  const health = new Health(client, 200, Fastify({ logger: false }).log, () => {})
  t.after(() => health.close())

  // Asked longer ago than the timeout: answered UNAVAILABLE without being sent.
  let sent = false
  const late = health.start(async (c) => { sent = true; return await c.ping() }, Date.now() - 1000)
  await t.rejects(late.answer, { code: 'FST_CHAT_UNAVAILABLE', message: /within 200 ms/ })
  t.notOk(sent, 'a call past its deadline is not sent')
  t.equal(await health.start(async (c) => await c.ping(), Date.now()).answer, 'PONG', 'within it, it is')

  // The lane hands each call the time its oldest request was asked.
  const lanes = new RoomLanes()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const calls: Array<{ items: string[], since: number, startedAt: number }> = []
  const ask = lanes.kind<string, string>('x', (_room, items, since) => {
    calls.push({ items, since, startedAt: Date.now() })
    const call = health.start(async (c) => { if (items[0] === 'first') await gate; return await c.ping() }, since)
    return { answer: call.answer.then((pong) => items.map(() => pong)), settled: call.settled }
  })
  const b1 = Date.now()
  const first = ask('room', 'first')
  const a1 = Date.now()
  await new Promise((resolve) => setImmediate(resolve))
  const b2 = Date.now()
  const second = ask('room', 'second')
  const third = ask('room', 'third')
  const a2 = Date.now()
  await new Promise((resolve) => setTimeout(resolve, 20))
  release()
  t.same(await Promise.all([first, second, third]), ['PONG', 'PONG', 'PONG'])
  t.same(calls.map((c) => c.items), [['first'], ['second', 'third']], 'what waited behind the first call went in one call after it')
  t.ok(calls[0].since >= b1 && calls[0].since <= a1, 'the first call counts from its request')
  t.ok(calls[1].since >= b2 && calls[1].since <= a2, 'the second from its oldest request, asked while the first was on its way')
  t.ok(calls[1].startedAt > calls[1].since, 'which was before the call itself left')
})

// A sender's order holds through every retry: a room's first call answered NOSCRIPT, its EVAL
// held back, and a second call asked meanwhile waits for it; with the script cache flushed on every
// Redis node again and again while two processes send at once (NOSCRIPT, then EVAL, for any call),
// every member gets each sender's messages in the order they were sent, with dense seqs. On one
// Redis and on the Cluster.
import t from 'tap'
import Redis from 'ioredis'
import { redisAdapter } from '../lib/index.js'
import { messageDraft } from '../lib/core/message.js'
import { fakeNode } from './adapter-contract.js'
import { BACKENDS, processes } from './backends.js'
import { connect, token, type Client } from './helpers.js'
import { dropPrefix, REDIS_CLUSTER_NODES, REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

t.test('a call answered NOSCRIPT whose EVAL is late keeps its place: the next call waits for it', async (t) => {
  if (!await redisReady(t)) return
  const real = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const prefix = testPrefix()
  t.teardown(async () => { real.disconnect(); await dropPrefix(prefix) })
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  const sent: string[] = []
  let first = true
  const client = new Proxy(real, {
    get (target, prop) {
      if (prop === 'evalsha' || prop === 'eval') {
        return async (...args: unknown[]) => {
          sent.push(String(prop))
          if (prop === 'evalsha' && first) {
            first = false
            throw new Error('NOSCRIPT No matching script. Please use EVAL.')
          }
          if (prop === 'eval') await gate
          return await (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        }
      }
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  const node = fakeNode()
  const adapter = await redisAdapter({ client, prefix, heartbeatInterval: 60_000, nodeTimeout: 120_000 })(node)
  t.teardown(async () => await adapter.close())
  const draft = (text: string) => messageDraft('r', { from: 'x.a', userId: 'a' }, text, undefined, undefined, Date.now())
  const one = adapter.publishMessage('r', draft('one'))
  // Until the first call's EVAL went out (held at the gate), then a turn more.
  while (!sent.includes('eval')) await new Promise((resolve) => setImmediate(resolve))
  const two = adapter.publishMessage('r', draft('two'))
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  t.same(sent, ['evalsha', 'eval'], 'the second call is not sent while the first is still on its way')
  open()
  t.match([await one, await two], [{ status: 'sent', seq: 1 }, { status: 'sent', seq: 2 }], 'each in the order asked')
  t.same((await adapter.history('r', { limit: 10 })).messages.map((m) => JSON.parse(m).content), ['one', 'two'])
})

for (const backend of BACKENDS.filter((b) => b.redis)) {
  t.test(`script cache flushed while two processes send (${backend.name})`, async (t) => {
    if (!await backend.ready(t)) return
    const nodes = backend.name === 'redis' ? [new Redis(REDIS_URL)] : REDIS_CLUSTER_NODES.map((n) => new Redis(n.port, n.host))
    t.teardown(() => { for (const n of nodes) n.disconnect() })
    const [a, b] = await processes(t, backend, 2, { rateLimit: false })
    const rounds = 8
    for (let round = 0; round < rounds; round++) {
      const room = `order-${round}`
      const alice = await connect(a, token({ sub: 'alice' }), { defaultRoom: false })
      const bob = await connect(b, token({ sub: 'bob' }), { defaultRoom: false })
      const watcher = await connect(b, token({ sub: 'watcher' }), { defaultRoom: false })
      for (const c of [alice, bob, watcher]) await c.request({ action: 'join', room })
      const flush = { on: true }
      const flusher = (async () => {
        while (flush.on) {
          await Promise.all(nodes.map(async (n) => await n.script('FLUSH')))
          await new Promise((resolve) => setTimeout(resolve, 15))
        }
      })()
      const send = async (c: Client, who: string) => {
        // A turn between sends: several batches of a room in flight at once, as a real socket's reads make them.
        for (let i = 0; i < 20; i++) {
          c.send({ action: 'message', room, content: `${who}${i}`, ref: `${who}${i}` })
          await new Promise((resolve) => setImmediate(resolve))
        }
        const acks = []
        for (let i = 0; i < 20; i++) acks.push(await c.next((f) => f.ref === `${who}${i}`, 10_000))
        return acks
      }
      const [ackA, ackB] = await Promise.all([send(alice, 'a'), send(bob, 'b')])
      flush.on = false
      await flusher
      t.ok([...ackA, ...ackB].every((f) => f.type === 'ack'), `round ${round}: every message acknowledged`)
      const got = []
      for (let i = 0; i < 40; i++) got.push(await watcher.next((f) => f.type === 'message' && f.room === room, 10_000))
      t.same(got.map((f) => f.seq), Array.from({ length: 40 }, (_, i) => i + 1), `round ${round}: dense seqs, in order`)
      for (const who of ['a', 'b']) {
        const mine = got.filter((f) => f.content.startsWith(who)).map((f) => Number(f.content.slice(1)))
        t.same(mine, Array.from({ length: 20 }, (_, i) => i), `round ${round}: ${who}'s messages in the order sent`)
      }
      for (const c of [alice, bob, watcher]) c.close()
    }
  })
}

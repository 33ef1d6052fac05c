// The store across separate processes on Redis: one gapless seq per room whichever process
// commits, a process SIGKILLed between commit and delivery (the resend gets the ack and everyone
// the message), and every process and Redis restarted (a resume still recovers exactly the rest).
import { once } from 'node:events'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { Client, SECRET, token } from './helpers.js'
import { spawnNode, type NodeProcess } from './node-process.js'
import { DATABASE_URL, pgReady, testSchema } from './pg-helpers.js'
import { dropPrefix, freePort, PrivateRedis, REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

type Node = NodeProcess

/** Starts test/fixtures/cluster-node.ts with a store; resolves once it listens. */
async function startNode (t: Test, env: Record<string, string>): Promise<Node> {
  return await spawnNode(t, { ...process.env, JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: undefined, CHAT_STORE_URL: DATABASE_URL, ...env })
}

async function kill (node: Node): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return
  const exited = once(node.child, 'exit')
  node.child.kill('SIGKILL')
  await exited
}

/** A real ws client, in the default room (lobby) once it resolves. */
async function client (port: number, sub: string): Promise<Client> {
  const c = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token({ sub })}`))
  c.welcome = await c.next('welcome')
  await c.next('joined')
  return c
}

t.test('a store shared by separate processes', async (t) => {
  if (!await redisReady(t) || !await pgReady(t)) return

  t.test('one gapless seq per room, whichever process commits', async (t) => {
    const prefix = testPrefix()
    t.after(() => dropPrefix(prefix))
    const env = { CHAT_PREFIX: prefix, REDIS_URL, CHAT_STORE_SCHEMA: testSchema(t) }
    const [one, two] = await Promise.all([startNode(t, env), startNode(t, env)])
    const alice = await client(one.port, 'alice')
    const bob = await client(two.port, 'bob')
    // Both send at once, without waiting for acks: their batches commit concurrently.
    const N = 60
    const acks = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const sender = i % 2 === 0 ? alice : bob
      return await sender.request({ action: 'message', room: 'lobby', content: `m${i}` }, 15_000)
    }))
    t.same(acks.map((a) => a.type), Array(N).fill('ack'))
    t.same(acks.map((a) => a.seq).sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i + 1), 'seqs 1 to N, each once')
    for (const c of [alice, bob]) {
      const seqs = []
      for (let i = 0; i < N; i++) seqs.push((await c.next('message', 15_000)).seq)
      t.same(seqs, Array.from({ length: N }, (_, i) => i + 1), 'every member gets each once, in order')
    }
    alice.close(); bob.close()
  })

  t.test('SIGKILL between commit and delivery: the resend is acknowledged and delivered to everyone', async (t) => {
    const prefix = testPrefix()
    t.after(() => dropPrefix(prefix))
    const env = { CHAT_PREFIX: prefix, REDIS_URL, CHAT_STORE_SCHEMA: testSchema(t) }
    const doomed = await startNode(t, { ...env, CHAT_KILL_AFTER_COMMIT: 'last words' })
    const other = await startNode(t, env)
    const sender = await client(doomed.port, 'alice')
    const reader = await client(other.port, 'bob')
    t.match(await sender.request({ action: 'message', room: 'lobby', content: 'hello' }), { type: 'ack', seq: 1 })
    t.match(await reader.next('message'), { seq: 1 })

    sender.send({ action: 'message', room: 'lobby', content: 'last words', ref: 'lw' })
    await sender.closed
    t.equal(sender.queue.filter((f) => f.type === 'ack').length, 0, 'the process died before acknowledging')
    await once(doomed.child, 'exit')
    t.equal(doomed.child.signalCode, 'SIGKILL')

    // The client resends on another process, with the same ref.
    const again = await client(other.port, 'alice')
    const ack = await again.request({ action: 'message', room: 'lobby', content: 'last words', ref: 'lw' })
    t.match(ack, { type: 'ack', seq: 2 }, 'the committed message is acknowledged, not sent twice')
    t.match(await reader.next('message'), { seq: 2, content: 'last words', userId: 'alice' }, 'and the others get it')
    t.match(await again.next('message'), { seq: 2, content: 'last words' })
    t.match(await again.request({ action: 'message', room: 'lobby', content: 'next' }), { type: 'ack', seq: 3 })
    t.match(await reader.next('message'), { seq: 3 })
    await reader.barrier()
    t.equal(reader.queue.filter((f) => f.type === 'message').length, 0, 'nothing twice')
    again.close(); reader.close()
  })

  t.test('every process and Redis restarted: a resume gets recovered: true and exactly what was missed', async (t) => {
    const redis = new PrivateRedis(await freePort())
    await redis.start()
    t.after(() => redis.stop())
    const env = { CHAT_PREFIX: testPrefix(), REDIS_URL: redis.url, CHAT_STORE_SCHEMA: testSchema(t), CHAT_HISTORY_SIZE: '5' }
    const first = await Promise.all([startNode(t, env), startNode(t, env)])
    const reader = await client(first[0].port, 'reader')
    const sender = await client(first[1].port, 'sender')
    for (let i = 1; i <= 4; i++) await sender.request({ action: 'message', room: 'lobby', content: `seen ${i}` })
    let last: any
    for (let i = 1; i <= 4; i++) last = await reader.next('message')
    reader.close()
    for (let i = 1; i <= 20; i++) t.match(await sender.request({ action: 'message', room: 'lobby', content: `missed ${i}` }), { type: 'ack', seq: 4 + i })
    sender.close()

    await Promise.all(first.map(kill))
    await redis.stop()
    await redis.start()
    const second = await Promise.all([startNode(t, env), startNode(t, env)])

    const back = await client(second[1].port, 'reader')
    const resumed = await back.request({ action: 'join', room: 'lobby', since: { seq: last.seq, epoch: last.epoch } })
    t.match(resumed, { type: 'joined', recovered: true, seq: 24, epoch: last.epoch }, 'the epoch is the store\'s: it survived')
    const replay = []
    for (let i = 0; i < 20; i++) replay.push(await back.next('message'))
    t.same(replay.map((m) => m.content), Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`), 'exactly what was missed, in order')
    const writer = await client(second[0].port, 'sender')
    t.match(await writer.request({ action: 'message', room: 'lobby', content: 'after' }), { type: 'ack', seq: 25 }, 'the seqs go on')
    t.match(await back.next('message'), { seq: 25, content: 'after' }, 'then live, across processes')
    await back.barrier()
    t.equal(back.queue.filter((f) => f.type === 'message').length, 0, 'nothing twice')
    back.close(); writer.close()
    await Promise.all(second.map(kill))
  })
})

// Real faults: a process SIGKILLed, separate processes with real ws clients, Redis going away.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { once } from 'node:events'
import { join } from 'node:path'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import WebSocket from 'ws'
import calculateSlot from 'cluster-key-slot'
import type { Test } from 'tap'
import chatPlugin, { redisAdapter, type ChatPluginOptions } from '../lib/index.js'
import { Client, connect, SECRET, token } from './helpers.js'
import { spawnNode, type NodeProcess } from './node-process.js'
import { clusterReady, dropClusterPrefix, dropPrefix, freePort, PrivateRedis, REDIS_CLUSTER_NODES, REDIS_URL, redisReady, testPrefix, until } from './redis-helpers.js'

/** Where a process's Redis is: a URL, or the nodes of a cluster ("host:port,host:port"). */
type Target = { url: string } | { cluster: string }
const single: Target = { url: REDIS_URL }
const testCluster: Target = { cluster: REDIS_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(',') }

/** Starts test/fixtures/cluster-node.ts as a child process on `target`; resolves with it and its port. */
async function startNode (t: Test, prefix: string, target: Target = single): Promise<NodeProcess> {
  const env: Record<string, string | undefined> = { ...process.env, CHAT_PREFIX: prefix, JWT_SECRET: SECRET, REDIS_URL: undefined, REDIS_CLUSTER_NODES: undefined }
  if ('url' in target) env.REDIS_URL = target.url
  else env.REDIS_CLUSTER_NODES = target.cluster
  return await spawnNode(t, env)
}

async function wsClient (port: number, jwt: string): Promise<Client> {
  const client = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${jwt}`))
  client.welcome = await client.next('welcome')
  await client.next('joined')
  return client
}

function redisOf (target: Target): Redis | InstanceType<typeof Redis.Cluster> {
  if ('url' in target) return new Redis(target.url, { maxRetriesPerRequest: 1 })
  const nodes = target.cluster.split(',').map((hp) => ({ host: hp.split(':')[0], port: Number(hp.split(':')[1]) }))
  return new Redis.Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
}

async function localNode (t: Test, prefix: string, target: Target = single, logs?: string[], extra: Partial<ChatPluginOptions> = {}): Promise<FastifyInstance> {
  const client = redisOf(target)
  client.on('error', () => {})
  const app = Fastify({ logger: logs === undefined ? false : { level: 'info', stream: { write: (l: string) => { logs.push(l) } } } })
  t.after(async () => { await app.close(); client.disconnect() })
  await app.register(chatPlugin, {
    jwt: { secret: SECRET },
    heartbeatInterval: 0,
    admission: false,
    adapter: redisAdapter({ client, prefix, heartbeatInterval: 200, nodeTimeout: 1000, requestTimeout: 1000 }),
    ...extra
  })
  await app.ready()
  return app
}

t.test('cluster faults', async (t) => {
  if (!await redisReady(t)) return

  for (const [name, target] of [['one Redis', single], ['a Redis Cluster', testCluster]] as const) {
    const drop = 'url' in target ? dropPrefix : dropClusterPrefix
    t.test(`on ${name}`, async (t) => {
      if ('cluster' in target && !await clusterReady(t)) return
      t.test('two separate processes and real ws clients chat as one', async (t) => {
        const prefix = testPrefix()
        t.after(() => drop(prefix))
        const [one, two] = await Promise.all([startNode(t, prefix, target), startNode(t, prefix, target)])
        const alice = await wsClient(one.port, token({ sub: 'alice' }))
        const bob = await wsClient(two.port, token({ sub: 'bob' }))
        t.match(await alice.next('userJoined'), { userId: 'bob' })
        alice.send({ action: 'message', room: 'lobby', content: 'across processes', ref: 1 })
        t.match(await bob.next('message'), { content: 'across processes', userId: 'alice', from: alice.id })
        t.match(await alice.next('message'), { content: 'across processes' })
        const rest = await fetch(`http://127.0.0.1:${two.port}/rooms/lobby/members`, { headers: { authorization: `Bearer ${token()}` } })
        t.same(((await rest.json()) as any).members.map((m: any) => m.userId), ['alice', 'bob'])
        alice.ws.close(); bob.ws.close()
        await Promise.all([alice.closed, bob.closed])
        for (const n of [one, two]) { n.child.kill('SIGTERM'); await once(n.child, 'exit') }
      })

      t.test('a SIGKILLed process: its members are gone and userLeft(timeout) arrives within 15 s', async (t) => {
        const prefix = testPrefix()
        t.after(() => drop(prefix))
        const app = await localNode(t, prefix, target)
        const alice = await connect(app, token({ sub: 'alice' }))
        const doomed = await startNode(t, prefix, target)
        const bob = await wsClient(doomed.port, token({ sub: 'bob' }))
        bob.send({ action: 'join', room: 'side' })
        await bob.next('joined')
        t.match(await alice.next('userJoined'), { userId: 'bob' })
        t.same((await app.chat.members('lobby')).map((m) => m.userId), ['alice', 'bob'])
        const killedAt = Date.now()
        doomed.child.kill('SIGKILL')
        const left = await alice.next((f) => f.type === 'userLeft' && f.userId === 'bob', 15_000)
        t.equal(left.reason, 'timeout')
        t.ok(Date.now() - killedAt < 15_000, `removed ${Date.now() - killedAt} ms after the kill`)
        t.same((await app.chat.members('lobby')).map((m) => m.userId), ['alice'], 'no ghost in the lobby')
        // Reaping goes room by room, in small steps: the other room follows within the same deadline.
        await until(async () => await app.chat.room('side') === null, 15_000 - (Date.now() - killedAt), 'the other room reaped')
        t.equal(await app.chat.room('side'), null, 'no ghost room')
        t.equal((await app.inject({ method: 'PUT', url: `/rooms/x/members/${bob.id}`, headers: { authorization: `Bearer ${token({ role: 'admin' })}` } })).statusCode, 404, 'the dead client is found nowhere')
        alice.close()
      })

      t.test('a SIGKILLed process: its users go offline for watchers once its node times out', async (t) => {
        const prefix = testPrefix()
        t.after(() => drop(prefix))
        const app = await localNode(t, prefix, target)
        const viewer = await connect(app, token({ sub: 'viewer' }))
        await viewer.request({ action: 'watch', users: ['bob'] })
        t.match(await viewer.next('presence'), { userId: 'bob', online: false })
        const doomed = await startNode(t, prefix, target)
        await wsClient(doomed.port, token({ sub: 'bob' }))
        t.match(await viewer.next('presence'), { userId: 'bob', online: true })
        const killedAt = Date.now()
        doomed.child.kill('SIGKILL')
        const off = await viewer.next('presence', 15_000)
        t.match(off, { userId: 'bob', online: false, lastSeen: Number })
        t.ok(off.lastSeen >= killedAt, 'seen last when its process was found dead')
        t.match(await app.chat.presence('bob'), { online: false, connections: 0 })
        viewer.close()
      })
    })
  }

  t.test('Redis goes away and comes back: UNAVAILABLE, 503, sockets kept, then whole again', async (t) => {
    const redis = new PrivateRedis(await freePort())
    await redis.start()
    t.after(() => redis.stop())
    const prefix = testPrefix()
    const logs: string[] = []
    const a = await localNode(t, prefix, { url: redis.url }, logs, { maxConnectionsPerUser: 2 })
    const b = await localNode(t, prefix, { url: redis.url })
    const alice = await connect(a, token({ sub: 'alice' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    await alice.next('userJoined')
    t.match(await alice.request({ action: 'message', room: 'lobby', content: 'before' }), { type: 'ack' })
    await bob.next('message')

    await redis.stop()
    for (let i = 0; i < 5; i++) {
      const reply = await alice.request({ action: 'message', room: 'lobby', content: `during ${i}` }, 5000)
      t.match(reply, { type: 'error', code: 'UNAVAILABLE' }, 'a retryable error, with the ref')
    }
    t.match(await alice.request({ action: 'join', room: 'new-room' }), { type: 'error', code: 'UNAVAILABLE' })
    const rest = await a.inject({ url: '/rooms', headers: { authorization: `Bearer ${token()}` } })
    t.equal(rest.statusCode, 503)
    t.equal(rest.json().code, 'FST_CHAT_UNAVAILABLE')
    t.equal(alice.ws.readyState, WebSocket.OPEN, 'sockets stay open')
    t.equal(bob.ws.readyState, WebSocket.OPEN)
    t.equal(logs.filter((l) => l.includes('Redis is unreachable')).length, 1, 'the outage is logged once')
    const late = await connect(a, token({ sub: 'late' }), { defaultRoom: false })
    t.match(await late.next('error'), { code: 'UNAVAILABLE', message: /default room/ }, 'a new socket is welcomed, and told the default room must wait')
    t.equal(late.ws.readyState, WebSocket.OPEN)
    late.close()
    // The per-user limit falls back to this process's own sockets: alice has one, may open one more.
    const second = await connect(a, token({ sub: 'alice' }), { defaultRoom: false })
    await t.rejects(connect(a, token({ sub: 'alice' }), { defaultRoom: false }), /429/, 'over maxConnectionsPerUser on this process: 429')
    second.close()

    await redis.start() // empty: everything was lost with it
    await until(async () => {
      try { return (await a.chat.members('lobby')).length === 2 } catch { return false }
    }, 15_000, 'both processes rewrote their members')
    // Each process's subscriber reconnects on its own: a message published before the other's
    // is back is lost (pub/sub keeps nothing). Send until one crosses.
    let n = 0
    await until(async () => {
      const content = `after ${n++}`
      const reply = await alice.request({ action: 'message', room: 'lobby', content }, 5000)
      if (reply.type !== 'ack') return false
      return await bob.next((f) => f.type === 'message' && f.content === content, 500).then(() => true, () => false)
    }, 15_000, 'messages flow again')
    t.pass('messages cross processes again')
    t.match(logs.join(''), /Redis is back/)
    alice.close(); bob.close()
  })

  t.test('a Redis Cluster master killed mid-conversation: UNAVAILABLE during the failover, then everything works; resumes are told recovered: false', async (t) => {
    if (!await clusterReady(t)) return
    // A cluster of our own with a replica per master, and a quick failover.
    const port = 7201
    const scriptPath = join(__dirname, '..', 'scripts', 'redis-cluster.mjs')
    const run = async (...args: string[]): Promise<string> => await new Promise((resolve, reject) => {
      execFile(process.execPath, [scriptPath, ...args, '--port', String(port)], { timeout: 60_000 }, (err, stdout) => err !== null ? reject(err) : resolve(stdout.trim()))
    })
    const nodes = await run('start', '--masters', '3', '--replicas', '1', '--node-timeout', '1500')
    t.teardown(async () => { await run('stop') })
    const target: Target = { cluster: nodes }
    const prefix = testPrefix()
    const a = await localNode(t, prefix, target)
    const b = await localNode(t, prefix, target)
    const alice = await connect(a, token({ sub: 'alice' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    await alice.next('userJoined')
    await alice.request({ action: 'message', room: 'lobby', content: 'before' })
    const before = await bob.next((f) => f.type === 'message' && f.content === 'before')

    // The master that holds the lobby's keys dies.
    const probe = redisOf(target) as InstanceType<typeof Redis.Cluster>
    t.after(() => probe.disconnect())
    await probe.ping()
    const master = probe.slots[calculateSlot(`${prefix}{r:lobby}:meta`)][0]
    const pid = Number(readFileSync(join(tmpdir(), `fastify-chat-redis-cluster-${port}`, master.split(':')[1], 'redis.pid'), 'utf8'))
    process.kill(pid, 'SIGKILL')
    const during = await alice.request({ action: 'message', room: 'lobby', content: 'during the failover' }, 5000)
    t.match(during, { type: 'error', code: 'UNAVAILABLE' }, 'a retryable error while the shard has no master')
    t.equal(alice.ws.readyState, WebSocket.OPEN, 'sockets stay open')

    // A replica takes over: the same sockets chat again, without restarts.
    let n = 0
    await until(async () => {
      const content = `after ${n++}`
      const reply = await alice.request({ action: 'message', room: 'lobby', content }, 3000)
      if (reply.type !== 'ack') return false
      return await bob.next((f) => f.type === 'message' && f.content === content, 1000).then(() => true, () => false)
    }, 30_000, 'messages flow again after the failover')
    t.pass('messages cross processes again')
    t.match(await alice.request({ action: 'join', room: 'after-failover' }), { type: 'joined' }, 'joins work')

    // The lobby may have lost its newest writes with the old master: it has a new epoch, so a
    // client resuming from before the failover is told so instead of missing messages silently.
    const late = await connect(b, token({ sub: 'late' }), { defaultRoom: false })
    await late.next('joined')
    t.match(await late.request({ action: 'join', room: 'lobby', since: { seq: before.seq, epoch: before.epoch } }), { type: 'joined', recovered: false })
    await alice.request({ action: 'message', room: 'lobby', content: 'new epoch' })
    const fresh = await bob.next((f) => f.type === 'message' && f.content === 'new epoch')
    t.not(fresh.epoch, before.epoch, 'messages after the failover carry the new epoch')
    t.ok(fresh.seq > before.seq, 'and seqs that were never used before')
    alice.close(); bob.close(); late.close()
  })
})

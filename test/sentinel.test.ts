// The Redis adapter on a primary with a replica behind Sentinel: the same `redisAdapter({ client })`,
// and a failover (the primary killed) that the chat survives without restarts.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { redisAdapter } from '../lib/index.js'
import { connect, SECRET, token } from './helpers.js'
import { freePort, redisReady, testPrefix, until } from './redis-helpers.js'

/** A redis-server (or sentinel) of the test's own; resolves once it is ready. */
async function server (t: Test, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis did not start: ${out}`)), 10_000)
    const read = (d: Buffer): void => { out += d.toString(); if (ready.test(out)) { clearTimeout(timer); resolve() } }
    child.stdout!.on('data', read)
    child.stderr!.on('data', read)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis exited with ${code}: ${out}`)) })
  })
  return child
}

async function node (t: Test, sentinelPort: number, prefix: string): Promise<FastifyInstance> {
  const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 'chat', maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  const app = Fastify({ logger: false })
  t.after(async () => { await app.close(); client.disconnect() })
  await app.register(chatPlugin, {
    jwt: { secret: SECRET },
    heartbeatInterval: 0,
    admission: false,
    adapter: redisAdapter({ client, prefix, heartbeatInterval: 200, nodeTimeout: 1500, requestTimeout: 1000 })
  })
  await app.ready()
  return app
}

t.test('behind Sentinel: one chat over two processes, and through a failover', async (t) => {
  if (!await redisReady(t)) return
  const [primaryPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
  const dir = mkdtempSync(join(tmpdir(), 'fastify-chat-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  const primary = await server(t, ['--port', String(primaryPort), ...common], /Ready to accept connections/)
  await server(t, ['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(primaryPort), ...common], /sync: Finished with success|MASTER <-> REPLICA sync: Finished/)
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(conf, [
    `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor chat 127.0.0.1 ${primaryPort} 1`,
    'sentinel down-after-milliseconds chat 1000',
    'sentinel failover-timeout chat 5000'
  ].join('\n') + '\n')
  await server(t, [conf, '--sentinel'], /\+monitor master chat/)

  const prefix = testPrefix()
  const a = await node(t, sentinelPort, prefix)
  const b = await node(t, sentinelPort, prefix)
  const alice = await connect(a, token({ sub: 'alice' }))
  const bob = await connect(b, token({ sub: 'bob' }))
  await alice.next('userJoined')
  await alice.request({ action: 'message', room: 'lobby', content: 'before' })
  const before = await bob.next((f) => f.type === 'message' && f.content === 'before')
  t.pass('a message crosses processes through the Sentinel-managed primary')

  primary.kill('SIGKILL')
  const during = await alice.request({ action: 'message', room: 'lobby', content: 'during' }, 5000)
  t.match(during, { type: 'error', code: 'UNAVAILABLE' }, 'UNAVAILABLE while there is no primary')

  let n = 0
  await until(async () => {
    const content = `after ${n++}`
    const reply = await alice.request({ action: 'message', room: 'lobby', content }, 3000)
    if (reply.type !== 'ack') return false
    return await bob.next((f) => f.type === 'message' && f.content === content, 1000).then(() => true, () => false)
  }, 30_000, 'messages flow again once Sentinel promoted the replica')
  t.pass('the same sockets chat again, without restarts')
  // The new primary may lack the newest writes: the room has a new epoch, so a resume from before
  // the failover says so.
  // b's own connection may still be finding the new primary: its default-room join can be
  // UNAVAILABLE (documented, retryable), so a new client comes until its join goes through.
  let late: Awaited<ReturnType<typeof connect>> | undefined
  await until(async () => {
    late?.close()
    late = await connect(b, token({ sub: 'late' }), { defaultRoom: false })
    return (await late.next((f) => f.type === 'joined' || f.type === 'error')).type === 'joined'
  }, 10_000, 'a new client joined the default room')
  await until(async () => (await late!.request({ action: 'join', room: 'lobby', since: { seq: before.seq, epoch: before.epoch } })).recovered === false, 10_000, 'recovered: false for a resume from before the failover')
  t.pass('a resume from before the failover is told recovered: false')
  alice.close(); bob.close(); late!.close()
})

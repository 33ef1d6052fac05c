// A killed process that held 20,000 connections in 5 rooms each: another process removes its
// 100,000 memberships in small steps (bounded work per script call, counted here; how long the
// slowest one takes is measured by `npm run bench -- --sessions reap`, not asserted in a test).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import Redis from 'ioredis'
import { Membership } from '../lib/core/membership.js'
import { redisAdapter, type AdapterNode } from '../lib/index.js'
import { freePort, PrivateRedis, redisReady, testPrefix, until } from './redis-helpers.js'

t.test('reaping a dead process of 20,000 connections x 5 rooms: all of it, in small steps', async (t) => {
  if (!await redisReady(t)) return
  const redis = new PrivateRedis(await freePort())
  await redis.start()
  t.teardown(() => redis.stop())
  const prefix = testPrefix()
  const heavy = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'heavy-node.ts')], {
    env: { ...process.env, REDIS_URL: redis.url, CHAT_PREFIX: prefix, CONNECTIONS: '20000', ROOMS: '5' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (heavy.exitCode === null) heavy.kill('SIGKILL') })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the heavy node did not get ready: ${out}`)), 120_000)
    heavy.stdout!.on('data', (d) => { out += d; if (out.includes('READY')) { clearTimeout(timer); resolve() } })
    heavy.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}`)) })
  })
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  t.equal(await admin.zcard(`${prefix}{r:room-0}:m`), 20000, 'room-0 has its 20,000 members')
  const userKey = `${prefix}{u:${createHash('sha1').update('u1').digest('base64url').slice(0, 16)}}:c`
  t.equal(await admin.zcard(userKey), 1, 'a user holds its place')
  const evalshaCalls = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)
  const callsBefore = await evalshaCalls()
  heavy.kill('SIGKILL')

  // Another process notices the missed heartbeat and reaps.
  let lost = 0
  const noop = (): void => {}
  const log: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => log }
  const node: AdapterNode = {
    id: 'reaper',
    membership: new Membership(),
    deliver: noop,
    resync: noop,
    execute: async () => 'not-found',
    stats: () => ({ connections: 0, rooms: 0, members: 0, messagesIn: 0, messagesOut: 0 }),
    * localClients () {},
    lost: () => { lost++ },
    presenceChanged: () => {},
    signal: () => {},
    position: () => undefined,
    log,
    history: { size: 10, ttl: 60_000, maxBytes: 1 << 20 }
  }
  const started = Date.now()
  const reaper = await redisAdapter({ url: redis.url, prefix, heartbeatInterval: 200, nodeTimeout: 1000 })(node)
  t.teardown(() => reaper.close())
  await until(() => lost === 100_000, 60_000, 'every membership reaped')
  const took = Date.now() - started
  for (let r = 0; r < 5; r++) t.equal(await admin.zcard(`${prefix}{r:room-${r}}:m`), 0, `room-${r} is empty`)
  // The dead process's connections (its users' places under maxConnectionsPerUser) go after its rooms.
  await until(async () => await admin.zcard(`${prefix}nodes`) === 1, 30_000, 'the dead process fully reaped')
  t.equal(await admin.zcard(userKey), 0, 'its users hold no place any more')
  // At most REAP_BATCH (100) memberships per script call, and one call per user: 1,000 + 20,000.
  const calls = await evalshaCalls() - callsBefore
  t.ok(calls >= 100_000 / 100 + 20_000, `${calls} script calls: no call removed more than a step's worth`)
  t.comment(`100,000 memberships reaped in ${took} ms (heartbeat timeout included)`)
})

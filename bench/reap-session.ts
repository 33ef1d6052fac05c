// The reaping scenario of `npm run bench` (session `reap`): a process holding 20,000 connections in
// 5 rooms each (100,000 memberships) is killed; another removes them. Reported: how long it took
// (from the kill, the 1 s heartbeat timeout included), and the slowest Redis command meanwhile
// (SLOWLOG, on a redis-server of its own): reaping goes in small steps so that Redis never stalls.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import Redis from 'ioredis'
import { Membership } from '../lib/core/membership.js'
import { redisAdapter, type AdapterNode } from '../lib/index.js'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function started (child: ChildProcess, ready: string, what: string): Promise<void> {
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 120_000)
    child.stdout!.on('data', (d) => { out += d; if (out.includes(ready)) { clearTimeout(timer); resolve() } })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited with ${code}`)) })
  })
}

export async function reapSession (record: (metric: string, target: string, value: number) => void): Promise<void> {
  const port = await freePort()
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] })
  const children: ChildProcess[] = [redis]
  const noop = (): void => {}
  const log: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => log }
  try {
    await started(redis, 'Ready to accept connections', 'redis-server')
    const url = `redis://127.0.0.1:${port}`
    const heavy = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'test', 'fixtures', 'heavy-node.ts')], {
      env: { ...process.env, REDIS_URL: url, CHAT_PREFIX: 'reap:', CONNECTIONS: '20000', ROOMS: '5' },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    children.push(heavy)
    await started(heavy, 'READY', 'the heavy node')
    const admin = new Redis(url)
    try {
      await admin.config('SET', 'slowlog-log-slower-than', '0')
      await admin.config('SET', 'slowlog-max-len', '200000')
      await admin.slowlog('RESET')
      heavy.kill('SIGKILL')
      const killedAt = Date.now()
      let lost = 0
      const node: AdapterNode = {
        id: 'reaper',
        membership: new Membership(),
        deliver: noop,
        resync: noop,
        execute: async () => 'not-found',
        stats: () => ({ connections: 0, rooms: 0, members: 0, messagesIn: 0, messagesOut: 0 }),
        * localClients () {},
        lost: () => { lost++ },
        presenceChanged: noop,
        signal: noop,
        position: () => undefined,
        log,
        history: { size: 10, ttl: 60_000, maxBytes: 1 << 20 }
      }
      const reaper = await redisAdapter({ url, prefix: 'reap:', heartbeatInterval: 200, nodeTimeout: 1000 })(node)
      try {
        const deadline = Date.now() + 120_000
        const done = async (): Promise<boolean> => lost >= 100_000 && await admin.zcard('reap:nodes') <= 1
        while (!await done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
        record('X reap 20,000 x 5 rooms: ms from the kill', 'plugin', Date.now() - killedAt)
        const slow = await admin.slowlog('GET', 200000) as Array<[number, number, number, string[]]>
        const micros = slow.map(([, , us]) => us)
        record('X reap: slowest Redis command µs', 'plugin', micros.reduce((a, b) => Math.max(a, b), 0))
        record('X reap: Redis commands over 1 ms', 'plugin', micros.filter((us) => us > 1000).length)
      } finally {
        await reaper.close()
      }
    } finally {
      admin.disconnect()
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  }
}

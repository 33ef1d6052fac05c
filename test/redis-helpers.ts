// Redis for the tests: REDIS_URL (default redis://127.0.0.1:6379). Under CI the Redis tests must
// run: an unreachable Redis fails them. Locally they are skipped with one line saying how to run them.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import Redis from 'ioredis'
import type { Test } from 'tap'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** The Redis Cluster of the tests: `.ci/run` (and `npm test`) start one on these ports when none answers. */
export const REDIS_CLUSTER_NODES = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103')
  .split(',').map((hp) => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) }))

/** Whether Redis answers; under CI, fails the test when it does not. */
export async function redisReady (t: Test): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.ping()
    return true
  } catch (err) {
    if (process.env.CI !== undefined) {
      t.fail(`Redis is required under CI and does not answer at ${REDIS_URL}: ${(err as Error).message}`)
    } else {
      t.comment(`Redis tests not run: no Redis at ${REDIS_URL}. Start one (redis-server) or set REDIS_URL, then run npm test.`)
    }
    return false
  } finally {
    probe.disconnect()
  }
}

/** Whether the test Redis Cluster answers with every slot served; under CI, fails the test when not. */
export async function clusterReady (t: Test): Promise<boolean> {
  const probe = new Redis.Cluster(REDIS_CLUSTER_NODES, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: { maxRetriesPerRequest: 0 } })
  probe.on('error', () => {})
  try {
    await probe.connect()
    const info = await probe.cluster('INFO') as string
    if (!info.includes('cluster_state:ok')) throw new Error(info.split('\n')[0])
    return true
  } catch (err) {
    const nodes = REDIS_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(',')
    if (process.env.CI !== undefined) {
      t.fail(`a Redis Cluster is required under CI and does not answer at ${nodes}: ${(err as Error).message}`)
    } else {
      t.comment(`Redis Cluster tests not run: no cluster at ${nodes}. Start one with node scripts/redis-cluster.mjs start, then run npm test.`)
    }
    return false
  } finally {
    probe.disconnect()
  }
}

/** A Redis.Cluster client of the host's, quit when the test ends. */
export function hostCluster (t: Test, options: Record<string, unknown> = {}): InstanceType<typeof Redis.Cluster> {
  const client = new Redis.Cluster(REDIS_CLUSTER_NODES, { redisOptions: { maxRetriesPerRequest: 1 }, ...options })
  client.on('error', () => {})
  t.after(() => client.disconnect())
  return client
}

/** Deletes the keys of a prefix on every master of the test cluster. */
export async function dropClusterPrefix (prefix: string): Promise<void> {
  const cluster = new Redis.Cluster(REDIS_CLUSTER_NODES)
  cluster.on('error', () => {})
  try {
    for (const master of cluster.nodes('master')) {
      const keys = await master.keys(`${prefix}*`)
      for (const key of keys) await cluster.del(key)
    }
  } catch {} finally {
    cluster.disconnect()
  }
}

/** A fresh prefix per test, so that tests never see each other's keys. */
export function testPrefix (): string {
  return `fastify-chat-test:${randomUUID()}:`
}

/** A client of the host's, quit when the test ends (the adapter never quits it). */
export function hostClient (t: Test, url = REDIS_URL, options: Record<string, unknown> = {}): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, ...options })
  client.on('error', () => {})
  t.after(() => client.disconnect())
  return client
}

/** Deletes the keys of a prefix after a test. */
export async function dropPrefix (prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL)
  try {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
  } finally {
    client.disconnect()
  }
}

export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** A free port whose next port is free too (for the examples that listen on PORT and PORT + 1). */
export async function freePortPair (): Promise<number> {
  for (;;) {
    const port = await freePort()
    const next = createServer()
    const ok = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false))
      next.listen(port + 1, '127.0.0.1', () => resolve(true))
    })
    if (ok) {
      next.close()
      await once(next, 'close')
      return port
    }
  }
}

/** A private redis-server on a port of its own, for the fault tests: it can be stopped and restarted. */
export class PrivateRedis {
  readonly port: number
  #child: ChildProcess | undefined

  constructor (port: number) {
    this.port = port
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start (): Promise<void> {
    const child = this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000)
      child.stdout!.on('data', (d) => {
        out += d
        if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited with ${code}: ${out}`)) })
    })
  }

  async stop (): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    this.#child = undefined
  }
}

/** Polls `check` until it returns true, for at most `ms`. */
export async function until (check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

// The backends a multi-process test runs on: several Fastify instances in this process sharing a
// memory bus, one Redis, or a Redis Cluster. Each test gets a fresh one (its own bus, or its own
// key prefix), cleaned up when it ends.
import Fastify, { type FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import type { Test } from 'tap'
import chatPlugin, { createMemoryBus, memoryAdapter, redisAdapter, type AdapterFactory, type ChatPluginOptions, type RedisAdapter } from '../lib/index.js'
import { SECRET } from './helpers.js'
import { clusterReady, dropClusterPrefix, dropPrefix, REDIS_CLUSTER_NODES, REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

export interface Backend {
  name: 'memory bus' | 'redis' | 'redis cluster'
  /** Redis: whether processes talk through Redis (and a subscriber can be cut). */
  redis: boolean
  ready: (t: Test) => Promise<boolean>
  /** A fresh shared backend: each `adapter()` makes one process's adapter factory; `cleanup` ends it all. */
  open: () => { prefix: string, adapter: () => AdapterFactory, cleanup: () => Promise<void> }
}

export const BACKENDS: Backend[] = [
  {
    name: 'memory bus',
    redis: false,
    ready: async () => true,
    open: () => {
      const bus = createMemoryBus()
      return { prefix: '', adapter: () => memoryAdapter({ bus }), cleanup: async () => {} }
    }
  },
  {
    name: 'redis',
    redis: true,
    ready: redisReady,
    open: () => {
      const prefix = testPrefix()
      const clients: Redis[] = []
      return {
        prefix,
        cleanup: async () => { for (const c of clients) c.disconnect(); await dropPrefix(prefix) },
        adapter: () => {
          // As the README advises: every command of a turn in one write.
          const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableAutoPipelining: true })
          client.on('error', () => {})
          clients.push(client)
          return redisAdapter({ client, prefix, heartbeatInterval: 200, nodeTimeout: 1000 })
        }
      }
    }
  },
  {
    name: 'redis cluster',
    redis: true,
    ready: clusterReady,
    open: () => {
      const prefix = testPrefix()
      const clients: Array<InstanceType<typeof Redis.Cluster>> = []
      return {
        prefix,
        cleanup: async () => { for (const c of clients) c.disconnect(); await dropClusterPrefix(prefix) },
        adapter: () => {
          const client = new Redis.Cluster(REDIS_CLUSTER_NODES, { redisOptions: { maxRetriesPerRequest: 1 } })
          client.on('error', () => {})
          clients.push(client)
          return redisAdapter({ client, prefix, heartbeatInterval: 200, nodeTimeout: 1000 })
        }
      }
    }
  }
]

/** The Redis adapter of each app `processes` made (its nodeId names its subscriber). */
export const adapters = new WeakMap<FastifyInstance, RedisAdapter>()

/**
 * `n` Fastify instances with the plugin on one backend, closed when the test ends; `before` runs
 * on each before the plugin is registered (a host's hooks).
 */
export async function processes (t: Test, backend: Backend, n: number, options: Partial<ChatPluginOptions> = {},
  before?: (app: FastifyInstance, i: number) => void): Promise<FastifyInstance[]> {
  const shared = backend.open()
  const apps: FastifyInstance[] = []
  t.after(async () => {
    for (const app of apps) await app.close()
    await shared.cleanup()
  })
  for (let i = 0; i < n; i++) {
    const app = Fastify({ logger: false })
    apps.push(app)
    before?.(app, i)
    const factory = shared.adapter()
    await app.register(chatPlugin, {
      jwt: { secret: SECRET },
      heartbeatInterval: 0,
      admission: false,
      adapter: async (node) => {
        const adapter = await factory(node)
        if (backend.redis) adapters.set(app, adapter as RedisAdapter)
        return adapter
      },
      ...options
    })
    await app.ready()
  }
  return apps
}

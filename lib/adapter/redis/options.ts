/** The Redis adapter's options, checked once when `redisAdapter()` is called. */
import type { Cluster, Redis } from 'ioredis'
import { FST_CHAT_INVALID_OPTION } from '../../errors.js'

export interface RedisAdapterOptions {
  /**
   * The host's ioredis client: `new Redis(url)`, a Sentinel client, or `new Redis.Cluster(nodes)`
   * (also `@fastify/redis`'s `app.redis`). Never quit by the adapter.
   */
  client?: Redis | Cluster
  /** Or a Redis URL: the adapter creates its client and quits it on close. */
  url?: string
  /** Prefix of every key and channel (no braces: they make Redis Cluster hash tags). Default `fastify-chat:`. */
  prefix?: string
  /** Deadline in ms of every cross-process request and Redis command. Default 2000. */
  requestTimeout?: number
  /** How often this process refreshes its heartbeat and sweeps dead processes, ms. Default 2000. */
  heartbeatInterval?: number
  /** A process whose heartbeat is older than this is dead and its members are removed, ms. Default 10000. */
  nodeTimeout?: number
  /** How long a user's `lastSeen` is kept after its last connection closed, ms. Default 30 days. */
  presenceTtl?: number
}

export interface ResolvedRedisOptions {
  client: Redis | Cluster
  ownsClient: boolean
  prefix: string
  requestTimeout: number
  heartbeatInterval: number
  nodeTimeout: number
  presenceTtl: number
}

function positive (name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw new FST_CHAT_INVALID_OPTION(`adapter.${name}`, `must be a positive integer of ms (got ${String(value)})`)
  }
  return value
}

/** Checks the options: a bad one throws at once, naming it. */
export function resolveRedisOptions (options: RedisAdapterOptions): Omit<ResolvedRedisOptions, 'client' | 'ownsClient'> & { client?: Redis | Cluster, url?: string } {
  if (options === null || typeof options !== 'object') throw new FST_CHAT_INVALID_OPTION('adapter', 'redisAdapter() takes { client } or { url }')
  if (options.client !== undefined) {
    if (typeof (options.client as { duplicate?: unknown }).duplicate !== 'function') {
      throw new FST_CHAT_INVALID_OPTION('adapter.client', 'must be an ioredis client (Redis or Redis.Cluster)')
    }
  } else if (typeof options.url !== 'string' || options.url === '') {
    throw new FST_CHAT_INVALID_OPTION('adapter.client', 'redisAdapter() needs { client } (an ioredis client) or { url }')
  }
  const prefix = options.prefix ?? 'fastify-chat:'
  if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) {
    throw new FST_CHAT_INVALID_OPTION('adapter.prefix', 'must be a non-empty string without braces')
  }
  const heartbeatInterval = positive('heartbeatInterval', options.heartbeatInterval, 2000)
  const nodeTimeout = positive('nodeTimeout', options.nodeTimeout, 10000)
  if (nodeTimeout <= heartbeatInterval) {
    throw new FST_CHAT_INVALID_OPTION('adapter.nodeTimeout', `must be longer than heartbeatInterval (${heartbeatInterval} ms)`)
  }
  const presenceTtl = options.presenceTtl ?? 30 * 24 * 3600 * 1000
  if (typeof presenceTtl !== 'number' || !Number.isInteger(presenceTtl) || presenceTtl < 1000 || presenceTtl > 366 * 24 * 3600 * 1000) {
    throw new FST_CHAT_INVALID_OPTION('adapter.presenceTtl', `must be a whole number of ms from 1000 to a year (got ${String(presenceTtl)})`)
  }
  return { client: options.client, url: options.url, prefix, requestTimeout: positive('requestTimeout', options.requestTimeout, 2000), heartbeatInterval, nodeTimeout, presenceTtl }
}

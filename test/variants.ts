// The histories a single-process test runs on: memory, one Redis, and each with the PostgreSQL
// store. Each variant's options are fresh for its test (its own Redis prefix, its own schema),
// cleaned up when the test ends.
import Redis from 'ioredis'
import type { Test } from 'tap'
import { memoryAdapter, postgresStore, redisAdapter, type ChatPluginOptions } from '../lib/index.js'
import { DATABASE_URL, pgReady, testSchema } from './pg-helpers.js'
import { dropPrefix, REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

export interface Variant {
  name: string
  /** Whether messages are kept by the store. */
  store: boolean
  ready: (t: Test) => Promise<boolean>
  options: (t: Test) => Partial<ChatPluginOptions>
}

function redis (t: Test): Partial<ChatPluginOptions> {
  const prefix = testPrefix()
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.after(async () => { client.disconnect(); await dropPrefix(prefix) })
  return { adapter: redisAdapter({ client, prefix }) }
}

const store = (t: Test): Partial<ChatPluginOptions> => ({ store: postgresStore({ connectionString: DATABASE_URL }, { schema: testSchema(t) }) })

export const VARIANTS: Variant[] = [
  { name: 'memory', store: false, ready: async () => true, options: () => ({ adapter: memoryAdapter() }) },
  { name: 'redis', store: false, ready: redisReady, options: redis },
  { name: 'memory + store', store: true, ready: pgReady, options: store },
  { name: 'redis + store', store: true, ready: async (t) => await redisReady(t) && await pgReady(t), options: (t) => ({ ...redis(t), ...store(t) }) }
]

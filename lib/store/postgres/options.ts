/** The PostgreSQL store's options, checked once when `postgresStore()` is called. */
import { FST_CHAT_INVALID_OPTION } from '../../errors.js'

/**
 * What the store needs of a pool: node-postgres's `Pool` (also `@fastify/postgres`'s
 * `app.pg.pool`) has it.
 */
export interface PgPool {
  query: (config: { text: string, values?: unknown[], name?: string, query_timeout?: number }) => Promise<{ rows: any[], rowCount: number | null }>
  connect: () => Promise<PgClient>
}

export interface PgClient {
  query: (text: string, values?: unknown[]) => Promise<{ rows: any[] }>
  release: (err?: Error | boolean) => void
}

export interface PostgresStoreOptions {
  /** The tables' schema (created when missing). Default `chat`. */
  schema?: string
  /**
   * Create or update the tables on start (idempotent, under an advisory lock). Default true;
   * false leaves it to the host, which applies the SQL files in the package's `sql/` folder.
   */
  migrate?: boolean
  /**
   * How long messages are kept, and how many per room (both optional: default forever). Applied
   * every `retention.interval` ms (default 60000) by one process at a time.
   */
  retention?: { maxAge?: number, maxPerRoom?: number, interval?: number }
  /**
   * How long a query may take before the store answers UNAVAILABLE, ms (its connection is then
   * dropped). Default 10000. Without it, a database cut off without a reset (a partition) would
   * hold a query, and the messages queued behind it, for as long as TCP takes to notice.
   */
  queryTimeout?: number
}

export interface ResolvedStoreOptions {
  schema: string
  migrate: boolean
  retention: { maxAge?: number, maxPerRoom?: number, interval: number } | undefined
  queryTimeout: number
}

const SCHEMA = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

function positive (name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new FST_CHAT_INVALID_OPTION(`store.${name}`, `must be a positive integer (got ${String(value)})`)
  }
  return value
}

/** The connection (a pool, or a connection string) and the options, checked: a bad one throws at once, naming it. */
export function resolveStoreOptions (connection: unknown, options: PostgresStoreOptions): ResolvedStoreOptions & { pool?: PgPool, connectionString?: string } {
  if (connection === null || typeof connection !== 'object') {
    throw new FST_CHAT_INVALID_OPTION('store', 'postgresStore() takes { pool } or { connectionString }')
  }
  const { pool, connectionString } = connection as { pool?: unknown, connectionString?: unknown }
  if (pool !== undefined) {
    if (typeof (pool as PgPool).query !== 'function' || typeof (pool as PgPool).connect !== 'function') {
      throw new FST_CHAT_INVALID_OPTION('store.pool', 'must be a node-postgres Pool (app.pg.pool, new Pool(...))')
    }
  } else if (typeof connectionString !== 'string' || connectionString === '') {
    throw new FST_CHAT_INVALID_OPTION('store', 'postgresStore() needs { pool } (a node-postgres Pool) or { connectionString }')
  }
  if (options === null || typeof options !== 'object') throw new FST_CHAT_INVALID_OPTION('store', 'the second argument is { schema, migrate, retention, queryTimeout }')
  const schema = options.schema ?? 'chat'
  if (typeof schema !== 'string' || !SCHEMA.test(schema)) {
    throw new FST_CHAT_INVALID_OPTION('store.schema', 'must be an SQL identifier: a letter or _, then letters, digits or _ (at most 63)')
  }
  const migrate = options.migrate ?? true
  if (typeof migrate !== 'boolean') throw new FST_CHAT_INVALID_OPTION('store.migrate', 'must be true or false')
  let retention: ResolvedStoreOptions['retention']
  if (options.retention !== undefined) {
    const r = options.retention
    if (r === null || typeof r !== 'object') throw new FST_CHAT_INVALID_OPTION('store.retention', 'must be { maxAge?, maxPerRoom?, interval? }')
    const maxAge = positive('retention.maxAge', r.maxAge)
    const maxPerRoom = positive('retention.maxPerRoom', r.maxPerRoom)
    const interval = positive('retention.interval', r.interval) ?? 60_000
    if (interval > 2 ** 31 - 1) throw new FST_CHAT_INVALID_OPTION('store.retention.interval', 'must be at most 2147483647 ms')
    if (maxAge !== undefined || maxPerRoom !== undefined) retention = { maxAge, maxPerRoom, interval }
  }
  const queryTimeout = positive('queryTimeout', options.queryTimeout) ?? 10_000
  if (queryTimeout > 2 ** 31 - 1) throw new FST_CHAT_INVALID_OPTION('store.queryTimeout', 'must be at most 2147483647 ms')
  return {
    pool: pool as PgPool | undefined,
    connectionString: pool === undefined ? connectionString as string : undefined,
    schema,
    migrate,
    retention,
    queryTimeout
  }
}

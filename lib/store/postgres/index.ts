/**
 * `postgresStore()`: the store on PostgreSQL through node-postgres (`pg`). The only folder that
 * speaks to PostgreSQL. It takes the host's pool (never ended here) or a connection string (its
 * own pool, ended on close), creates its tables unless told not to, and runs retention.
 */
import type { FastifyBaseLogger } from 'fastify'
import { FST_CHAT_INVALID_OPTION } from '../../errors.js'
import type { StoreFactory } from '../contract.js'
import { migrate } from './migrate.js'
import { resolveStoreOptions, type PgPool, type PostgresStoreOptions } from './options.js'
import { Retention } from './retention.js'
import { PostgresStore } from './store.js'

export type { PgPool, PostgresStoreOptions } from './options.js'
export { PostgresStore } from './store.js'

/** How long our own pool waits for a connection before the store answers UNAVAILABLE, ms. */
const CONNECT_TIMEOUT_MS = 3000

async function ownPool (connectionString: string, log: FastifyBaseLogger): Promise<PgPool & { end: () => Promise<void> }> {
  let Pool: typeof import('pg').Pool
  try {
    Pool = (await import('pg')).Pool
  } catch {
    throw new FST_CHAT_INVALID_OPTION('store', 'postgresStore({ connectionString }) needs the "pg" package: npm install pg')
  }
  const pool = new Pool({ connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 10 })
  // An idle connection that breaks (the server restarted) must not crash the host.
  pool.on('error', (err) => log.warn({ err }, 'fastify-chat: a PostgreSQL connection failed; the store reconnects on its next query'))
  return pool as unknown as PgPool & { end: () => Promise<void> }
}

/**
 * Keeps messages in PostgreSQL: `store: postgresStore({ pool: app.pg.pool })` or
 * `postgresStore({ connectionString: process.env.DATABASE_URL }, { schema: 'chat' })`.
 * With it, a message is acknowledged and delivered only once committed, and each room's seq
 * comes from the database (1, 2, 3, ... across every process).
 */
export function postgresStore (connection: { pool: PgPool } | { connectionString: string }, options: PostgresStoreOptions = {}): StoreFactory {
  const opts = resolveStoreOptions(connection, options)
  return async ({ log }) => {
    const owned = opts.pool === undefined ? await ownPool(opts.connectionString!, log) : undefined
    const pool = opts.pool ?? owned!
    try {
      if (opts.migrate) {
        const applied = await migrate(pool, opts.schema)
        if (applied.length > 0) log.info({ schema: opts.schema, applied }, 'fastify-chat: store tables created or updated')
      }
    } catch (err) {
      await owned?.end()
      throw err
    }
    const retention = opts.retention === undefined ? undefined : new Retention(pool, opts.schema, opts.retention, log)
    retention?.start()
    return new PostgresStore(pool, opts.schema, async () => {
      await retention?.stop()
      await owned?.end()
    }, retention, opts.queryTimeout)
  }
}

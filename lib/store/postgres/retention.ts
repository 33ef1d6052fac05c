/**
 * Retention: messages older than `maxAge`, and beyond the newest `maxPerRoom` of a room, are
 * deleted (with the edits and deletions of messages no longer kept), every `interval` ms, by one
 * process at a time (a transaction-level advisory lock that the others do not wait for).
 */
import type { FastifyBaseLogger } from 'fastify'
import { lockKey } from './migrate.js'
import { transaction } from './transaction.js'
import type { PgPool, ResolvedStoreOptions } from './options.js'
import { isUnavailable } from './faults.js'

/** Rows deleted per statement, so that one run never holds locks long. */
const BATCH = 5000

export class Retention {
  readonly #pool: PgPool
  readonly #schema: string
  readonly #rules: NonNullable<ResolvedStoreOptions['retention']>
  readonly #log: FastifyBaseLogger
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined

  constructor (pool: PgPool, schema: string, rules: NonNullable<ResolvedStoreOptions['retention']>, log: FastifyBaseLogger) {
    this.#pool = pool
    this.#schema = schema
    this.#rules = rules
    this.#log = log
  }

  start (): void {
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return
      this.#running = this.run()
        .catch((err: unknown) => {
          if (isUnavailable(err)) this.#log.warn({ err }, 'fastify-chat: retention skipped, PostgreSQL is unavailable')
          else this.#log.error({ err }, 'fastify-chat: retention failed')
        })
        .finally(() => { this.#running = undefined })
    }, this.#rules.interval).unref()
  }

  /** One pass; resolves with the messages deleted, or null when another process holds the lock. */
  async run (): Promise<number | null> {
    const s = `"${this.#schema}"`
    const { maxAge, maxPerRoom } = this.#rules
    const deleted = await transaction(this.#pool, async (client) => {
      const [{ locked }] = (await client.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [lockKey(this.#schema, 'retention')])).rows
      if (locked !== true) return null
      let deleted = 0
      if (maxAge !== undefined) {
        for (;;) {
          const r = await client.query(`DELETE FROM ${s}.messages WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${s}.messages WHERE sent_at < now() - $1 * interval '1 millisecond' LIMIT ${BATCH}))`, [maxAge])
          deleted += (r as { rowCount?: number }).rowCount ?? 0
          if (((r as { rowCount?: number }).rowCount ?? 0) < BATCH) break
        }
      }
      if (maxPerRoom !== undefined) {
        // Only rooms whose seq passed maxPerRoom can hold more (seqs count edits too); the index
        // on (room, seq) finds each one's cut.
        const r = await client.query(`DELETE FROM ${s}.messages m USING (
            SELECT r.room, c.cut FROM ${s}.rooms r
            CROSS JOIN LATERAL (SELECT seq AS cut FROM ${s}.messages WHERE room = r.room ORDER BY seq DESC OFFSET $1 LIMIT 1) c
            WHERE r.seq > $1
          ) d WHERE m.room = d.room AND m.seq <= d.cut`, [maxPerRoom])
        deleted += (r as { rowCount?: number }).rowCount ?? 0
      }
      if (deleted > 0) {
        await client.query(`DELETE FROM ${s}.changes c WHERE NOT EXISTS (SELECT 1 FROM ${s}.messages m WHERE m.id = c.message_id)`)
      }
      return deleted
    })
    if (deleted === null) return null
    if (deleted > 0) this.#log.info({ deleted }, 'fastify-chat: retention deleted old messages')
    return deleted
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }
}

/** One named query on the pool, with a deadline; an unreachable database is FST_CHAT_UNAVAILABLE (retryable), anything else a bug. */
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'
import { isUnavailable } from './faults.js'
import type { PgPool } from './options.js'

export async function query<R> (pool: PgPool, name: string, text: string, values: unknown[], timeout: number): Promise<R[]> {
  try {
    // query_timeout: past it the query fails (and its connection is dropped by the pool).
    const result = await pool.query({ name, text, values, query_timeout: timeout })
    return result.rows as R[]
  } catch (err) {
    if (isUnavailable(err)) throw new FST_CHAT_UNAVAILABLE(`PostgreSQL: ${(err as Error).message}`)
    throw err
  }
}

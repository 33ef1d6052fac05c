/** One transaction on a client of the pool: committed when `work` resolves, rolled back when it throws. */
import type { PgClient, PgPool } from './options.js'

export async function transaction<T> (pool: PgPool, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let out: T
  try {
    await client.query('BEGIN')
    out = await work(client)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    // A client that failed mid-transaction is not given back to the pool as if it were fine.
    client.release(err as Error)
    throw err
  }
  client.release()
  return out
}

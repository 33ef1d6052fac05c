/**
 * The store's tables: the SQL files of the package's `sql/` folder, applied in order when the
 * schema has not recorded them, under a transaction-level advisory lock (so that processes
 * starting together apply each once and the others wait for it).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { PgPool } from './options.js'
import { transaction } from './transaction.js'

/** The package's `sql/` folder, from here in the sources (lib/) or in the build (dist/cjs/). */
export function sqlFolder (): string {
  let dir = __dirname
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'sql', '001_init.sql'))) return join(dir, 'sql')
    dir = dirname(dir)
  }
  throw new Error('fastify-chat: the sql/ folder of the package is missing')
}

/** The migrations: version and SQL (the psql variable :"schema" made the quoted schema). */
export function migrations (schema: string): Array<{ version: number, sql: string }> {
  const folder = sqlFolder()
  return readdirSync(folder)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, f.indexOf('_'))), sql: readFileSync(join(folder, f), 'utf8').replaceAll(':"schema"', `"${schema}"`) }))
}

/** An advisory lock key of this schema (for migrating, or for the retention job). */
export function lockKey (schema: string, what: 'migrate' | 'retention'): string {
  let h = 0
  for (const c of `fastify-chat:${schema}:${what}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0
  return String(h)
}

/** Applies the migrations the schema lacks; resolves with the versions applied. */
export async function migrate (pool: PgPool, schema: string): Promise<number[]> {
  return await transaction(pool, async (client) => {
    const applied: number[] = []
    await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey(schema, 'migrate')])
    const known = await client.query('SELECT to_regclass($1) AS t', [`"${schema}".migrations`])
    const done = new Set<number>()
    if (known.rows[0].t !== null) {
      for (const row of (await client.query(`SELECT version FROM "${schema}".migrations`)).rows) done.add(row.version)
    }
    for (const m of migrations(schema)) {
      if (done.has(m.version)) continue
      await client.query(m.sql)
      applied.push(m.version)
    }
    return applied
  })
}

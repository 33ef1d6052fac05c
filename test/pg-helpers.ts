// PostgreSQL for the tests: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fastify_chat_test,
// which `npm test` creates when missing). Each test works in a schema of its own, dropped when it
// ends. Under CI the PostgreSQL tests must run: an unreachable database fails them. Locally they
// are skipped with one line saying how to run them.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fastify_chat_test'

/** Whether PostgreSQL answers; under CI, fails the test when it does not. */
export async function pgReady (t: Test): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch (err) {
    if (process.env.CI !== undefined) {
      t.fail(`PostgreSQL is required under CI and does not answer at ${DATABASE_URL}: ${(err as Error).message}`)
    } else {
      t.comment(`PostgreSQL tests not run: no database at ${DATABASE_URL}. Start PostgreSQL (or set DATABASE_URL), then run npm test.`)
    }
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/** A fresh schema name, dropped (with everything in it) when the test ends. */
export function testSchema (t: Test): string {
  const schema = `t_${randomBytes(6).toString('hex')}`
  t.after(async () => { await dropSchema(schema) })
  return schema
}

export async function dropSchema (schema: string, url = DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** A pool of the host's, ended when the test ends (after the app that used it). */
export function hostPool (t: Test, url = DATABASE_URL): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on('error', () => {})
  t.after(async () => { await pool.end() })
  return pool
}

/**
 * A PostgreSQL server of the test's own (initdb into a temporary folder, its own port), to stop
 * and start again. PostgreSQL refuses to run as root: as root, it runs as the `postgres` user.
 */
export class PrivatePostgres {
  readonly port: number
  readonly dir: string
  readonly #bin: string
  readonly #asPostgres: boolean

  constructor (port: number) {
    this.port = port
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b))
    this.#bin = join('/usr/lib/postgresql', versions[versions.length - 1], 'bin')
    this.#asPostgres = process.getuid?.() === 0
    this.dir = mkdtempSync(join(tmpdir(), 'fastify-chat-pg-'))
    if (this.#asPostgres) execFileSync('chown', ['postgres', this.dir])
  }

  get url (): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  #run (tool: string, args: string[]): void {
    const cmd = [join(this.#bin, tool), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
    if (this.#asPostgres) execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] })
    else execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] })
  }

  init (): void {
    this.#run('initdb', ['-D', join(this.dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync'])
  }

  /** Starts it and waits until it accepts connections (pg_ctl -w). */
  start (): void {
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
  }

  /** Stops it at once (connections are cut) and waits until it has. */
  stop (): void {
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-w', '-m', 'immediate', 'stop'])
  }

  /** Stops it if it runs and removes its folder. */
  destroy (): void {
    try { this.stop() } catch {}
    rmSync(this.dir, { recursive: true, force: true })
  }
}

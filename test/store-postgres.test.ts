// The PostgreSQL store: the store contract, and what is its own (tables made once however many
// processes start together, the SQL files applied by hand, retention, pools kept or ended).
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { postgresStore, type PostgresStore } from '../lib/store/postgres/index.js'
import { lockKey, sqlFolder } from '../lib/store/postgres/migrate.js'
import { DATABASE_URL, hostPool, pgReady, testSchema } from './pg-helpers.js'
import { storeContract } from './store-contract.js'

const noop = (): void => {}
const log: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => log }

t.test('postgresStore', async (t) => {
  if (!await pgReady(t)) return

  t.test('the store contract', async (t) => {
    storeContract(t, {
      open: async (t) => {
        const schema = testSchema(t)
        const open = async (): Promise<PostgresStore> => {
          const store = await postgresStore({ connectionString: DATABASE_URL }, { schema })({ log }) as PostgresStore
          t.after(async () => { await store.close() })
          return store
        }
        return { store: await open(), second: open }
      }
    })
  })

  t.test('ten processes starting at once create the tables once', async (t) => {
    const schema = testSchema(t)
    const infos: unknown[] = []
    const counting: any = { ...log, info: (o: unknown) => infos.push(o) }
    const stores = await Promise.all(Array.from({ length: 10 }, async () => await postgresStore({ connectionString: DATABASE_URL }, { schema })({ log: counting })))
    t.after(async () => { for (const s of stores) await s.close() })
    t.same(infos, [{ schema, applied: [1, 2, 3] }], 'one of them applied the migrations (001 to 003); the others found them done')
    const [p] = await stores[3].append([{ room: 'r', id: randomUUID(), userId: 'u', from: 'c', content: 'x', timestamp: Date.now() }], 1000)
    t.equal(p.seq, 1)
  })

  t.test('migrate: false uses tables the host made with the shipped SQL (psql)', async (t) => {
    const schema = testSchema(t)
    const pool = hostPool(t)
    await t.rejects(async () => {
      const s = await postgresStore({ pool }, { schema, migrate: false })({ log })
      await s.state('r')
    }, /does not exist/, 'without the tables, the store says what is missing')
    for (const file of ['001_init.sql', '002_read_markers.sql']) {
      execFileSync('psql', [DATABASE_URL, '-q', '-v', 'ON_ERROR_STOP=1', '-v', `schema=${schema}`, '-f', `${sqlFolder()}/${file}`], { stdio: ['ignore', 'ignore', 'inherit'] })
    }
    const store = await postgresStore({ pool }, { schema, migrate: false })({ log })
    const [p] = await store.append([{ room: 'r', id: randomUUID(), userId: 'u', from: 'c', content: 'x', timestamp: Date.now() }], 1000)
    t.equal(p.seq, 1)
    t.same(await store.markRead('u', 'r', 1), { seq: 1, moved: true }, 'the read markers table is there too')
    t.same((await pool.query(`SELECT version FROM "${schema}".migrations ORDER BY version`)).rows, [{ version: 1 }, { version: 2 }])
    await store.close()
    t.equal((await pool.query('SELECT count(*)::int AS n FROM "' + schema + '".messages')).rows[0].n, 1, 'the host\'s pool is still open after close')
  })

  t.test('a connection string: its own pool, ended on close', async (t) => {
    const schema = testSchema(t)
    const store = await postgresStore({ connectionString: DATABASE_URL }, { schema })({ log })
    await store.state('r')
    await store.close()
    await t.rejects(store.state('r'), /pool after calling end|Cannot use a pool/i, 'its pool is ended')
  })

  t.test('retention: by age and per room, by one process at a time', async (t) => {
    const schema = testSchema(t)
    const store = await postgresStore({ connectionString: DATABASE_URL }, { schema, retention: { maxAge: 60_000, maxPerRoom: 5, interval: 2 ** 31 - 1 } })({ log }) as PostgresStore
    t.after(async () => { await store.close() })
    const now = Date.now()
    const m = (room: string, i: number, at: number) => ({ room, id: randomUUID(), userId: 'u', from: 'c', content: `m${i}`, timestamp: at })
    const a = await store.append(Array.from({ length: 8 }, (_, i) => m('a', i + 1, now)), 1000)
    await store.edit('a', a[0].id, { userId: 'u', from: 'c', at: now, content: 'edited' })
    await store.append([m('b', 1, now - 120_000), m('b', 2, now - 120_000), m('b', 3, now)], 1000)
    t.equal(await store.applyRetention(), 3 + 2, 'a\'s 3 oldest (over 5) and b\'s 2 older than maxAge')
    t.same((await store.events('a', 0, 100)).events.map((e) => [e.kind, e.seq]), [4, 5, 6, 7, 8].map((s) => ['message', s]), 'the edit of a deleted message goes with it')
    t.same((await store.events('b', 0, 100)).events.map((e) => e.seq), [3])
    t.equal(await store.applyRetention(), 0, 'nothing more to do')
    const lock = new pg.Client({ connectionString: DATABASE_URL })
    await lock.connect()
    t.after(async () => { await lock.end() })
    await lock.query('SELECT pg_advisory_lock($1)', [lockKey(schema, 'retention')])
    t.equal(await store.applyRetention(), null, 'another process holds the retention lock: this one does not wait')
  })

  t.test('bad options are coded errors naming the option', async (t) => {
    t.throws(() => postgresStore({} as any), { code: 'FST_CHAT_INVALID_OPTION', message: /"store"/ })
    t.throws(() => postgresStore({ pool: {} as any }), { message: /"store.pool"/ })
    t.throws(() => postgresStore({ connectionString: DATABASE_URL }, { schema: 'a"b' }), { message: /"store.schema"/ })
    t.throws(() => postgresStore({ connectionString: DATABASE_URL }, { migrate: 'yes' as any }), { message: /"store.migrate"/ })
    t.throws(() => postgresStore({ connectionString: DATABASE_URL }, { retention: { maxAge: -1 } }), { message: /"store.retention.maxAge"/ })
  })
})

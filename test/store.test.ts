// The plugin with a PostgreSQL store: an ack means committed, seqs come from the store, the
// history outlives every process, resumes older than the hot window are served from the store,
// resends are recognised across restarts, and REST pages the whole stored history.
import t from 'tap'
import type { Test } from 'tap'
import { postgresStore } from '../lib/index.js'
import { build, connect, token, type BuildOptions } from './helpers.js'
import { DATABASE_URL, hostPool, pgReady, testSchema } from './pg-helpers.js'

const auth = { authorization: `Bearer ${token({ sub: 'reader' })}` }

async function app (t: Test, schema: string, options: BuildOptions = {}) {
  return await build(t, { rateLimit: false, store: postgresStore({ connectionString: DATABASE_URL }, { schema }), ...options })
}

t.test('with a store', async (t) => {
  if (!await pgReady(t)) return
  const pool = hostPool(t)

  t.test('an ack means committed; seqs and epoch are the store\'s', async (t) => {
    const schema = testSchema(t)
    const chat = await app(t, schema)
    const a = await connect(chat, token({ sub: 'alice', name: 'Alice' }), { defaultRoom: false })
    const joined = await a.next('joined')
    const { rows: [room] } = await pool.query(`SELECT "${schema}".room_epoch('lobby') AS epoch`)
    t.same([joined.seq, joined.epoch], [0, room.epoch], 'a room nobody wrote to: seq 0 and the epoch the store derives for it')
    for (let i = 1; i <= 3; i++) {
      const ack = await a.request({ action: 'message', room: 'lobby', content: `m${i}`, meta: { n: i } })
      t.match(ack, { type: 'ack', seq: i })
      // The ack is out: the row is there, whatever any other connection reads.
      const { rows } = await pool.query(`SELECT seq, content, meta, user_id, name, ref FROM "${schema}".messages WHERE id = $1`, [ack.id])
      t.same(rows, [{ seq: String(i), content: `m${i}`, meta: { n: i }, user_id: 'alice', name: 'Alice', ref: `s${ack.ref}` }])
    }
    t.match(await a.next('message'), { seq: 1, content: 'm1', meta: { n: 1 }, epoch: room.epoch, name: 'Alice' })
    t.match(await chat.chat.broadcast('lobby', 'from the server', { meta: { pinned: true } }), { seq: 4 })
    t.same((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".messages`)).rows[0].n, 4)
    a.close()
  })

  t.test('the history outlives the process: a restart continues the seqs, and a resume gets exactly what was missed', async (t) => {
    const schema = testSchema(t)
    const first = await app(t, schema, { history: { size: 5 } })
    const reader = await connect(first, token({ sub: 'reader' }))
    const sender = await connect(first, token({ sub: 'sender' }))
    for (let i = 1; i <= 3; i++) await sender.request({ action: 'message', room: 'lobby', content: `before ${i}` })
    let last: any
    for (let i = 1; i <= 3; i++) last = await reader.next('message')
    reader.close()
    for (let i = 1; i <= 4; i++) await sender.request({ action: 'message', room: 'lobby', content: `missed ${i}`, ref: `m${i}` })
    await first.close()

    // Every process gone: a new one, with an empty memory (the hot window is gone too).
    const second = await app(t, schema, { history: { size: 5 } })
    const back = await connect(second, token({ sub: 'reader' }), { defaultRoom: false })
    const resumed = await back.request({ action: 'join', room: 'lobby', since: { seq: last.seq, epoch: last.epoch } })
    t.match(resumed, { type: 'joined', recovered: true, seq: 7, epoch: last.epoch }, 'the same epoch: the store kept the room')
    const replay = []
    for (let i = 0; i < 4; i++) replay.push(await back.next('message'))
    t.same(replay.map((m) => [m.seq, m.content]), [[4, 'missed 1'], [5, 'missed 2'], [6, 'missed 3'], [7, 'missed 4']])
    const s2 = await connect(second, token({ sub: 'sender' }), { defaultRoom: false })
    const again = await s2.request({ action: 'message', room: 'lobby', content: 'missed 2', ref: 'm2' })
    t.match(again, { type: 'ack', seq: 5 }, 'a resend after the restart gets the original ack')
    t.match(await s2.request({ action: 'message', room: 'lobby', content: 'after' }), { seq: 8 })
    t.match(await back.next('message'), { seq: 8, content: 'after' }, 'live after the replay, nothing twice')
    await back.barrier()
    t.equal(back.queue.filter((f) => f.type === 'message').length, 0)
    back.close(); s2.close()
  })

  t.test('a resume older than the hot window is served from the store, then the window, then live', async (t) => {
    const schema = testSchema(t)
    const chat = await app(t, schema, { history: { size: 3 } })
    const sender = await connect(chat, token({ sub: 'sender' }))
    await sender.request({ action: 'message', room: 'lobby', content: 'm1' })
    const { epoch } = await sender.next('message')
    for (let i = 2; i <= 40; i++) sender.send({ action: 'message', room: 'lobby', content: `m${i}` })
    for (let i = 2; i <= 40; i++) await sender.next('message')
    const reader = await connect(chat, token({ sub: 'reader' }), { defaultRoom: false })
    reader.send({ action: 'join', room: 'lobby', since: { seq: 1, epoch }, ref: 'resume' })
    for (let i = 41; i <= 50; i++) sender.send({ action: 'message', room: 'lobby', content: `m${i}` })
    t.match(await reader.next((f) => f.ref === 'resume'), { recovered: true })
    const got = []
    for (let i = 2; i <= 50; i++) got.push((await reader.next('message')).seq)
    t.same(got, Array.from({ length: 49 }, (_, i) => i + 2), 'every seq once, in order, across the switches')
    await reader.barrier()
    t.equal(reader.queue.filter((f) => f.type === 'message').length, 0)
    t.match(await reader.request({ action: 'join', room: 'lobby', since: { seq: 3, epoch: 'another' } }), { recovered: false }, 'another epoch: not recoverable')
    sender.close(); reader.close()
  })

  t.test('REST and app.chat.history page the whole stored history', async (t) => {
    const schema = testSchema(t)
    const chat = await app(t, schema, { history: { size: 2 } })
    for (let i = 1; i <= 130; i++) await chat.chat.broadcast('lobby', `m${i}`)
    const get = async (q: string) => await chat.inject({ url: `/rooms/lobby/messages${q}`, headers: auth })
    t.same((await get('')).json().messages.map((m: any) => m.seq), Array.from({ length: 50 }, (_, i) => 81 + i), 'the newest 50 by default')
    t.same((await get('?after=0&limit=100')).json().messages.length, 100, 'up to 100 a page')
    t.same((await get('?before=3')).json().messages.map((m: any) => m.content), ['m1', 'm2'], 'back to the first message, long gone from the hot window')
    t.equal((await get('?limit=101')).statusCode, 400)
    t.same((await chat.chat.history('lobby', { after: 128 })).messages.map((m) => m.seq), [129, 130])
  })

  t.test('retention: a resume past what the store still has is recovered: false', async (t) => {
    const schema = testSchema(t)
    const chat = await app(t, schema, { history: { size: 2 } })
    for (let i = 1; i <= 20; i++) await chat.chat.broadcast('lobby', `m${i}`)
    const { epoch } = await chat.chat.history('lobby')
    // As retention does (test/store-postgres.test.ts runs the job itself).
    await pool.query(`DELETE FROM "${schema}".messages WHERE seq <= 15`)
    const reader = await connect(chat, token({ sub: 'reader' }), { defaultRoom: false })
    t.match(await reader.request({ action: 'join', room: 'lobby', since: { seq: 10, epoch } }), { recovered: false, seq: 20 }, 'message 11 is gone')
    t.match(await reader.request({ action: 'join', room: 'other', since: { seq: 0, epoch: 'x' } }), { recovered: false })
    const r2 = await connect(chat, token({ sub: 'reader2' }), { defaultRoom: false })
    t.match(await r2.request({ action: 'join', room: 'lobby', since: { seq: 15, epoch } }), { recovered: true }, 'from 16 on it is all there')
    const got = []
    for (let i = 16; i <= 20; i++) got.push((await r2.next('message')).seq)
    t.same(got, [16, 17, 18, 19, 20])
    reader.close(); r2.close()
  })

  t.test('the events: once each, after the commit, with the user\'s claims', async (t) => {
    const schema = testSchema(t)
    const chat = await app(t, schema)
    const seen: any[] = []
    let bothSeen: () => void
    const both = new Promise<void>((resolve) => { bothSeen = resolve })
    chat.chat.on('message', async (m) => {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".messages WHERE id = $1`, [m.id])
      seen.push({ seq: m.seq, content: m.content, meta: m.meta, sub: m.user?.sub, committed: rows[0].n === 1 })
      if (seen.length === 2) bothSeen()
    })
    chat.chat.on('message', () => { throw new Error('a listener that throws breaks nothing') })
    const a = await connect(chat, token({ sub: 'alice' }))
    await a.request({ action: 'message', room: 'lobby', content: 'hi', meta: { x: 1 } })
    await chat.chat.broadcast('lobby', 'server')
    await both
    seen.sort((x, y) => x.seq - y.seq)
    t.same(seen, [{ seq: 1, content: 'hi', meta: { x: 1 }, sub: 'alice', committed: true }, { seq: 2, content: 'server', meta: undefined, sub: undefined, committed: true }])
    a.close()
  })
})

// PostgreSQL away and back, with a server of the test's own that it stops and starts: messages are
// answered UNAVAILABLE (not acknowledged, not delivered, nothing lost), joins still work from the
// hot window, a resume the window cannot serve is UNAVAILABLE (never a false `recovered: false`),
// REST history is 503, sockets stay open, and everything works again once the database is back;
// cut off without a reset (a partition, through a proxy that swallows everything), a query gives
// up after the store's queryTimeout instead of holding the messages queued behind it.
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { WebSocket } from 'ws'
import { postgresStore } from '../lib/index.js'
import { build, connect, token } from './helpers.js'
import { FaultProxy } from '../chaos/proxy.js'
import { DATABASE_URL, PrivatePostgres, pgReady, testSchema } from './pg-helpers.js'
import { freePort, until } from './redis-helpers.js'

function havePostgresBinaries (): boolean {
  try {
    execFileSync('sh', ['-c', 'ls /usr/lib/postgresql/*/bin/initdb'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

t.test('PostgreSQL unreachable, then back', async (t) => {
  if (!await pgReady(t)) return
  if (!havePostgresBinaries()) {
    if (process.env.CI !== undefined) t.fail('initdb is required under CI (.ci/run installs PostgreSQL)')
    else t.comment('not run: no initdb under /usr/lib/postgresql')
    return
  }
  const server = new PrivatePostgres(await freePort())
  t.teardown(() => server.destroy())
  server.init()
  server.start()

  const chat = await build(t, {
    rateLimit: false,
    history: { size: 5 },
    defaultRoom: false,
    store: postgresStore({ connectionString: server.url }, { schema: 'chat' })
  })
  const alice = await connect(chat, token({ sub: 'alice' }), { defaultRoom: false })
  const bob = await connect(chat, token({ sub: 'bob' }), { defaultRoom: false })
  for (const c of [alice, bob]) t.match(await c.request({ action: 'join', room: 'lobby' }), { type: 'joined', seq: 0 })
  // The window (history.size 5) keeps 5 to 10 messages: 12 leave the first ones in the store only.
  for (let i = 1; i <= 12; i++) t.match(await alice.request({ action: 'message', room: 'lobby', content: `m${i}` }), { type: 'ack', seq: i })
  let epoch = ''
  for (let i = 1; i <= 12; i++) epoch = (await bob.next('message')).epoch

  server.stop()

  const refused = await alice.request({ action: 'message', room: 'lobby', content: 'while away', ref: 'away-1' })
  t.match(refused, { type: 'error', code: 'UNAVAILABLE', ref: 'away-1' }, 'not acknowledged: UNAVAILABLE')
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'message').length, 0, 'and not delivered')

  const carol = await connect(chat, token({ sub: 'carol' }), { defaultRoom: false })
  t.match(await carol.request({ action: 'join', room: 'lobby' }), { type: 'joined', seq: 12, epoch, lastRead: 12, unread: 0 }, 'a join works from the hot window (its read marker from the adapter, or none yet)')
  const dave = await connect(chat, token({ sub: 'dave' }), { defaultRoom: false })
  const resumed = await dave.request({ action: 'join', room: 'lobby', since: { seq: 10, epoch } })
  t.match(resumed, { type: 'joined', recovered: true, seq: 12 }, 'a resume the hot window holds is served')
  t.same([(await dave.next('message')).seq, (await dave.next('message')).seq], [11, 12])
  const erin = await connect(chat, token({ sub: 'erin' }), { defaultRoom: false })
  t.match(await erin.request({ action: 'join', room: 'lobby', since: { seq: 1, epoch } }), { type: 'error', code: 'UNAVAILABLE' },
    'a resume older than the window is UNAVAILABLE, not a false recovered: false')

  const history = await chat.inject({ url: '/rooms/lobby/messages', headers: { authorization: `Bearer ${token({ sub: 'reader' })}` } })
  t.equal(history.statusCode, 503, 'REST history is 503')
  t.match(history.json(), { code: 'FST_CHAT_UNAVAILABLE', statusCode: 503 })
  await t.rejects(chat.chat.broadcast('lobby', 'a notice'), { code: 'FST_CHAT_UNAVAILABLE' }, 'broadcast rejects')

  for (const c of [alice, bob, carol, dave, erin]) t.equal(c.ws.readyState, WebSocket.OPEN, 'every socket stays open')

  server.start()

  // The pool may hold connections cut by the stop: a resend of the same ref until it is taken.
  let ack: any
  await until(async () => {
    ack = await alice.request({ action: 'message', room: 'lobby', content: 'while away', ref: 'away-1' })
    return ack.type === 'ack'
  }, 20_000, 'a message accepted again')
  t.match(ack, { type: 'ack', seq: 13 }, 'back without a restart: the resend is committed with the next seq')
  t.match(await bob.next('message'), { seq: 13, content: 'while away', epoch }, 'and delivered')
  t.match(await carol.next('message'), { seq: 13 })
  t.match(await alice.request({ action: 'message', room: 'lobby', content: 'while away', ref: 'away-1' }), { type: 'ack', seq: 13 }, 'resent again: the original ack')
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'message').length, 0, 'delivered once')

  const resume = await erin.request({ action: 'join', room: 'lobby', since: { seq: 1, epoch } })
  t.match(resume, { type: 'joined', recovered: true, seq: 13 }, 'the old resume is served from the store again')
  const replay = []
  for (let i = 2; i <= 13; i++) replay.push((await erin.next('message')).seq)
  t.same(replay, Array.from({ length: 12 }, (_, i) => i + 2))
  const page = await chat.inject({ url: '/rooms/lobby/messages?limit=100', headers: { authorization: `Bearer ${token({ sub: 'reader' })}` } })
  t.equal(page.statusCode, 200)
  t.same(page.json().messages.map((m: { seq: number }) => m.seq), Array.from({ length: 13 }, (_, i) => i + 1))
  for (const c of [alice, bob, carol, dave, erin]) c.close()
})

t.test('PostgreSQL cut off without a reset (a partition): UNAVAILABLE within queryTimeout, nothing stuck behind it, back when it heals', async (t) => {
  if (!await pgReady(t)) return
  // A proxy that swallows everything, as a partition does: no reset tells the pool anything.
  const target = new URL(DATABASE_URL)
  const proxy = new FaultProxy({ host: target.hostname, port: Number(target.port || 5432) })
  await proxy.listen()
  t.teardown(() => proxy.close())
  const url = new URL(DATABASE_URL)
  url.host = `127.0.0.1:${proxy.port}`
  const chat = await build(t, {
    rateLimit: false,
    defaultRoom: false,
    store: postgresStore({ connectionString: url.toString() }, { schema: testSchema(t), queryTimeout: 1000 })
  })
  const alice = await connect(chat, token({ sub: 'alice' }), { defaultRoom: false })
  await alice.request({ action: 'join', room: 'r' })
  t.match(await alice.request({ action: 'message', room: 'r', content: 'before', ref: 'b' }), { type: 'ack', seq: 1 })

  proxy.mode = { kind: 'blackhole' }
  const started = Date.now()
  t.match(await alice.request({ action: 'message', room: 'r', content: 'cut off', ref: 'c' }, 10_000), { type: 'error', code: 'UNAVAILABLE' }, 'answered, not held')
  t.ok(Date.now() - started < 5000, `within the query timeout and its retries (${Date.now() - started} ms)`)
  t.match(await alice.request({ action: 'message', room: 'r', content: 'next', ref: 'n' }, 10_000), { type: 'error', code: 'UNAVAILABLE' }, 'the next is not stuck behind it')

  proxy.mode = { kind: 'reset' }
  proxy.mode = { kind: 'pass' }
  let ack: any
  await until(async () => {
    ack = await alice.request({ action: 'message', room: 'r', content: 'cut off', ref: 'c' }, 10_000)
    return ack.type === 'ack'
  }, 20_000, 'the resend accepted once the partition healed')
  t.match(ack, { type: 'ack', seq: 2 })
  alice.close()
})

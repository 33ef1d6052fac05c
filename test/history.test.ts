import t from 'tap'
import { Dedupe } from '../lib/adapter/memory-dedupe.js'
import { MemoryHistory } from '../lib/adapter/memory-history.js'
import { memoryAdapter, type AdapterFactory } from '../lib/index.js'
import { build, connect, token } from './helpers.js'

const auth = { authorization: `Bearer ${token({ sub: 'reader' })}` }

t.test('every message has a per-room seq and the epoch; joined carries the newest', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }), { defaultRoom: false })
  const joined = await a.next('joined')
  t.match(joined, { seq: 0, epoch: String })
  t.notOk('recovered' in joined, 'recovered only when the join had since')
  for (let i = 1; i <= 3; i++) {
    const ack = await a.request({ action: 'message', room: 'lobby', content: `m${i}` })
    t.match(ack, { type: 'ack', seq: i })
    t.match(await a.next('message'), { seq: i, epoch: joined.epoch, id: ack.id })
  }
  t.match(await app.chat.broadcast('lobby', 'from the server'), { seq: 4 })
  t.match(await a.next('message'), { seq: 4, from: 'server' })
  t.match(await a.request({ action: 'join', room: 'other' }), { seq: 0 }, 'each room has its own sequence')
  t.match(await a.request({ action: 'message', room: 'other', content: 'x' }), { seq: 1 })
  const b = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  t.match(await b.next('joined'), { seq: 4, epoch: joined.epoch })
  a.close(); b.close()
})

t.test('a client cut off reconnects with since and gets every missed message once, in order', async (t) => {
  const app = await build(t, { rateLimit: false })
  const sender = await connect(app, token({ sub: 'sender' }))
  const reader = await connect(app, token({ sub: 'reader' }), { defaultRoom: false })
  const joined = await reader.next('joined')
  for (let i = 0; i < 5; i++) sender.send({ action: 'message', room: 'lobby', content: `before ${i}` })
  let last = joined.seq
  for (let i = 0; i < 5; i++) last = (await reader.next('message')).seq
  reader.ws.terminate() // no close frame: a phone changing network
  for (let i = 0; i < 20; i++) sender.send({ action: 'message', room: 'lobby', content: `missed ${i}` })
  for (let i = 0; i < 20; i++) await sender.next('message')

  const back = await connect(app, token({ sub: 'reader' }), { defaultRoom: false })
  await back.next('joined') // the default room, fresh
  back.send({ action: 'join', room: 'lobby', since: { seq: last, epoch: joined.epoch }, ref: 'resume' })
  const resumed = await back.next((f) => f.ref === 'resume')
  t.match(resumed, { type: 'joined', recovered: true, seq: last + 20 })
  // While the replay runs, more arrive: no gap, no duplicate at the switch-over.
  for (let i = 0; i < 10; i++) sender.send({ action: 'message', room: 'lobby', content: `live ${i}` })
  const got = []
  for (let i = 0; i < 30; i++) got.push(await back.next('message'))
  t.same(got.map((m) => m.seq), Array.from({ length: 30 }, (_, i) => last + 1 + i), 'every seq once, in order')
  t.same(got.slice(0, 20).map((m) => m.content), Array.from({ length: 20 }, (_, i) => `missed ${i}`))
  t.same(got.slice(20).map((m) => m.content), Array.from({ length: 10 }, (_, i) => `live ${i}`))
  await back.barrier()
  t.equal(back.queue.filter((f) => f.type === 'message').length, 0, 'nothing twice')
  sender.close(); back.close()
})

// The duplicate a storm harness once saw: the typed client resumes every room, the default one
// too, after the server has put the new socket in it and live messages have reached it.
t.test('a resume of the default room after its automatic join: nothing twice', async (t) => {
  const app = await build(t, { rateLimit: false })
  const sender = await connect(app, token({ sub: 'sender' }))
  const reader = await connect(app, token({ sub: 'reader' }), { defaultRoom: false })
  const joined = await reader.next('joined')
  const last = (await sender.request({ action: 'message', room: 'lobby', content: 'seen', ref: 1 })).seq
  await reader.next('message')
  reader.ws.terminate()
  for (let i = 0; i < 3; i++) await sender.request({ action: 'message', room: 'lobby', content: `missed ${i}`, ref: `m${i}` })
  const back = await connect(app, token({ sub: 'reader' }), { defaultRoom: false })
  await back.next('joined') // the automatic join, before the client's resume
  await sender.request({ action: 'message', room: 'lobby', content: 'live', ref: 'l' })
  t.match(await back.next('message'), { content: 'live' })
  back.send({ action: 'join', room: 'lobby', since: { seq: last, epoch: joined.epoch }, ref: 'resume' })
  t.match(await back.next((f) => f.ref === 'resume'), { recovered: true })
  await back.barrier()
  const seqs = back.queue.filter((f) => f.type === 'message').map((f) => f.seq)
  t.same(seqs, [last + 1, last + 2, last + 3], 'the missed ones, not the live one again')
  back.queue.length = 0
  await sender.request({ action: 'message', room: 'lobby', content: 'after', ref: 'a' })
  t.match(await back.next('message'), { seq: last + 5, content: 'after' })
  await back.barrier()
  t.equal(back.queue.filter((f) => f.type === 'message').length, 0, 'and live ones once')
  sender.close(); back.close()
})

t.test('a burst published during the join is neither lost nor reordered', async (t) => {
  const app = await build(t, { rateLimit: false })
  const sender = await connect(app, token({ sub: 'sender' }))
  const s0 = (await sender.request({ action: 'message', room: 'lobby', content: 'first' })).seq
  const reader = await connect(app, token({ sub: 'reader' }), { defaultRoom: false })
  await reader.next('joined')
  // The join and the burst race in the same turn.
  reader.send({ action: 'join', room: 'lobby', since: { seq: 0, epoch: (await app.chat.history('lobby')).epoch } })
  for (let i = 0; i < 50; i++) sender.send({ action: 'message', room: 'lobby', content: `b${i}` })
  const joined = await reader.next('joined')
  t.equal(joined.recovered, true)
  const seqs = []
  for (let i = 0; i < 51; i++) seqs.push((await reader.next('message')).seq)
  t.same(seqs, Array.from({ length: 51 }, (_, i) => s0 + i))
  sender.close(); reader.close()
})

t.test('recovered: false for another epoch, a seq from the future, or history gone', async (t) => {
  const app = await build(t, { history: { size: 3, ttl: 600_000 } })
  const a = await connect(app, token({ sub: 'alice' }))
  const { epoch } = (await app.chat.history('lobby'))
  for (let i = 0; i < 8; i++) await a.request({ action: 'message', room: 'lobby', content: `m${i}` })
  const b = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  await b.next('joined')
  const cases: Array<[string, unknown, boolean]> = [
    ['another epoch', { seq: 7, epoch: 'not-the-epoch' }, false],
    ['a seq from the future', { seq: 99, epoch }, false],
    ['message 1 is no longer held (size 3 keeps 3 to 6)', { seq: 0, epoch }, false],
    ['the newest', { seq: 8, epoch }, true],
    ['the last held ones', { seq: 6, epoch }, true]
  ]
  for (const [name, since, recovered] of cases) {
    const joined = await b.request({ action: 'join', room: 'lobby', since })
    t.equal(joined.recovered, recovered, name)
    if (!recovered) {
      await b.barrier()
      t.equal(b.queue.filter((f) => f.type === 'message').length, 0, `${name}: nothing replayed`)
    } else {
      const n = 8 - (since as { seq: number }).seq
      for (let i = 0; i < n; i++) await b.next('message')
    }
    await b.request({ action: 'leave', room: 'lobby' })
  }
  for (const since of [{ seq: -1, epoch }, { seq: 1 }, { seq: 1, epoch: '' }, { seq: 1.5, epoch }, 'x', { seq: 1, epoch, more: 1 }]) {
    t.match(await b.request({ action: 'join', room: 'lobby', since }), { type: 'error', code: 'BAD_REQUEST' }, `malformed since ${JSON.stringify(since)}`)
  }
  a.close(); b.close()
})

t.test('resending with the same ref makes one message and gets the original ack', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  const first = await a.request({ action: 'message', room: 'lobby', content: 'hello', ref: 'u-1' })
  a.send({ action: 'message', room: 'lobby', content: 'hello', ref: 'u-1' })
  const second = await a.next((f) => f.type === 'ack' && f.ref === 'u-1')
  t.same(second, first, 'the original ack: same id and seq')
  // After a reconnect too
  a.ws.terminate()
  const again = await connect(app, token({ sub: 'alice' }))
  t.same(await again.request({ action: 'message', room: 'lobby', content: 'hello', ref: 'u-1' }), first)
  // The same ref saying something else is another message under a reused ref: refused, never
  // swallowed as a resend (a client counting refs from 1 per connection does exactly this).
  t.same(await again.request({ action: 'message', room: 'lobby', content: 'x', ref: 'u-1' }), {
    type: 'error',
    code: 'REF_REUSED',
    message: 'ref "u-1" was used for another message within the last 600 s: nothing was sent; use a new ref',
    ref: 'u-1'
  })
  // Another user's equal ref is another message; so is the same ref in another room
  const other = await b.request({ action: 'message', room: 'lobby', content: 'mine', ref: 'u-1' })
  t.not(other.id, first.id)
  await b.barrier()
  t.same(b.queue.filter((f) => f.type === 'message').map((m) => m.content), ['hello', 'mine'], 'one "hello", no resend delivered, no "x"')
  t.same((await app.chat.history('lobby')).messages.map((m) => m.content), ['hello', 'mine'], 'nothing stored for the refused one')
  again.close(); b.close()
})

t.test('GET /rooms/:room/messages pages the history', async (t) => {
  const app = await build(t, { history: { size: 10 } })
  const a = await connect(app, token({ sub: 'alice' }))
  for (let i = 1; i <= 12; i++) await a.request({ action: 'message', room: 'lobby', content: `m${i}` })
  const get = async (q: string) => await app.inject({ url: `/rooms/lobby/messages${q}`, headers: auth })
  const all = (await get('')).json()
  t.match(all, { room: 'lobby', epoch: String })
  t.same(all.messages.map((m: any) => m.seq), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'neither after nor before: the newest page; limit defaults to 50, capped at history.size')
  t.match(all.messages[0], { type: 'message', room: 'lobby', content: 'm3', userId: 'alice', seq: 3 })
  t.same((await get('?after=0&limit=3')).json().messages.map((m: any) => m.seq), [1, 2, 3], 'from the start')
  t.same((await get('?after=9&limit=2')).json().messages.map((m: any) => m.seq), [10, 11])
  t.same((await get('?before=6&limit=2')).json().messages.map((m: any) => m.seq), [4, 5], 'paging back')
  t.same((await app.inject({ url: '/rooms/empty/messages', headers: auth })).json(), { room: 'empty', epoch: '', messages: [] })
  for (const q of ['?limit=11', '?limit=0', '?after=-1', '?after=x', '?after=1&before=5', '?foo=1']) {
    t.equal((await get(q)).statusCode, 400, q)
  }
  t.equal((await app.inject({ url: '/rooms/lobby/messages' })).statusCode, 401)
  t.same((await app.chat.history('lobby', { after: 11 })).messages.map((m) => m.seq), [12])
  a.close()
})

t.test('MemoryHistory: bounded per room and across rooms; a lost history gets a new epoch', async (t) => {
  const h = new MemoryHistory(10, 60_000, 256 * 1024)
  const text = (seq: number) => `{"seq":${seq},"pad":"${'x'.repeat(80)}"}`
  let most = 0
  for (let r = 0; r < 5000; r++) {
    for (let i = 0; i < 5; i++) h.append(`room-${r}`, 1000, (seq) => text(seq))
    most = Math.max(most, h.bytes)
  }
  t.ok(most <= 256 * 1024, `never over maxBytes (at most ${most} bytes held)`)
  t.ok(h.roomCount < 5000, `only the most recent rooms keep their history (${h.roomCount})`)
  const e1 = h.state('room-0', 1000).epoch
  t.equal(h.state('room-0', 1000).seq, 0, 'an evicted room starts again at seq 0...')
  t.equal(h.state('room-4999', 1000).seq, 5, 'a recent one kept its history')
  const fresh = h.append('room-0', 1000, (seq) => text(seq))
  t.equal(fresh.epoch, e1)

  const one = new MemoryHistory(3, 1000, 1024 * 1024)
  const { epoch } = one.state('r', 0)
  for (let i = 0; i < 100; i++) one.append('r', i, (seq) => text(seq))
  t.ok(one.page('r', 100, { limit: 100 }).messages.length <= 6, 'at most 2 x size')
  t.ok(one.page('r', 100, { limit: 100 }).messages.length >= 3, 'at least size')
  t.same(one.since('r', 99, epoch, 100), { recovered: true, messages: [one.page('r', 100, { limit: 100 }).messages.at(-1)] })
  t.same(one.since('r', 99, epoch, 5000), { recovered: false }, 'older than ttl: not held')
  one.sweep(10_000)
  t.not(one.state('r', 10_000).epoch, epoch, 'an expired, idle room gets a new epoch')
})

t.test('Dedupe: ttl and a bound on entries', async (t) => {
  const d = new Dedupe(1000, 3)
  for (let i = 0; i < 5; i++) d.set(`k${i}`, { id: `m${i}`, seq: i, epoch: 'e', digest: 'd' }, 0)
  t.equal(d.size, 3, 'at most 3 entries')
  t.equal(d.get('k0', 0), undefined, 'the oldest went first')
  t.match(d.get('k4', 0), { id: 'm4' })
  t.equal(d.get('k4', 2000), undefined, 'expired')
})

t.test('history: false keeps nothing, but messages still carry seq and epoch', async (t) => {
  const app = await build(t, { history: false })
  const a = await connect(app, token({ sub: 'alice' }), { defaultRoom: false })
  const joined = await a.next('joined')
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'x' }), { seq: 1 })
  t.match(await a.next('message'), { seq: 1, epoch: joined.epoch })
  t.same((await app.chat.history('lobby')).messages, [])
  const b = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  await b.next('joined')
  t.match(await b.request({ action: 'join', room: 'lobby', since: { seq: 0, epoch: joined.epoch } }), { recovered: false })
  t.match(await b.request({ action: 'join', room: 'lobby', since: { seq: 1, epoch: joined.epoch } }), { recovered: true }, 'nothing missed')
  a.close(); b.close()
})

/**
 * A memory adapter whose deliveries lag `ms` behind its reads, as pub/sub lags behind the command
 * connection on Redis: what a join reads can be newer than what has been delivered.
 */
function laggy (factory: AdapterFactory, ms: number): AdapterFactory {
  return async (node) => await factory({
    get id () { return node.id },
    position: (room) => node.position(room),
    presenceChanged: (...args) => { node.presenceChanged(...args) },
    signal: (room, data) => { node.signal(room, data) },
    get membership () { return node.membership },
    deliver: (...args) => { setTimeout(() => node.deliver(...args), ms) },
    resync: () => node.resync(),
    execute: async (clientId, command) => await node.execute(clientId, command),
    stats: () => node.stats(),
    localClients: () => node.localClients(),
    lost: (...args) => node.lost(...args),
    get log () { return node.log },
    get history () { return node.history }
  })
}

t.test('live frames that lag behind a join\'s read reach nobody twice, nor anybody before its join', async (t) => {
  const app = await build(t, { adapter: laggy(memoryAdapter(), 40), rateLimit: false })
  const alice = await connect(app, token({ sub: 'alice' }), { defaultRoom: false })
  const joined = await alice.next('joined')
  const bob = await connect(app, token({ sub: 'bob' }))
  // Three messages on their way (stored at once, delivered 40 ms later), and alice resumes meanwhile.
  for (let i = 1; i <= 3; i++) bob.send({ action: 'message', room: 'lobby', content: `m${i}`, ref: i })
  for (let i = 1; i <= 3; i++) await bob.next((f) => f.type === 'ack' && f.ref === i)
  const resumed = await alice.request({ action: 'join', room: 'lobby', since: { seq: joined.seq, epoch: joined.epoch } })
  t.match(resumed, { type: 'joined', recovered: true, seq: joined.seq + 3 })
  // A newcomer joins while they are still on their way: they are from before its join.
  const carol = await connect(app, token({ sub: 'carol' }), { defaultRoom: false })
  const carolJoined = await carol.next('joined')
  t.equal(carolJoined.seq, joined.seq + 3)
  bob.send({ action: 'message', room: 'lobby', content: 'after', ref: 'after' })
  await alice.next((f) => f.type === 'message' && f.content === 'after')
  await carol.next((f) => f.type === 'message' && f.content === 'after')
  await new Promise((resolve) => setTimeout(resolve, 100)) // longer than the lag: every late copy has landed
  await alice.barrier()
  await carol.barrier()
  t.same(alice.queue.filter((f) => f.type === 'message').map((m) => m.content), ['m1', 'm2', 'm3'], 'alice: the replay, and no late copy')
  t.same(carol.queue.filter((f) => f.type === 'message').map((m) => m.content), [], 'carol: nothing from before her join')
  alice.close(); bob.close(); carol.close()
})

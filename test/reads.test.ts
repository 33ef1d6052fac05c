// Read markers and unread counts: per user, forward only, clamped to the room; `read` frames to
// the user's other connections (always) and the room's members (with read receipts); `joined`
// carries lastRead and unread; GET /users/me/unread and app.chat.unread; direct conversations
// unread while away; across processes on every backend; after a restart with the store.
import t from 'tap'
import { postgresStore } from '../lib/index.js'
import { BACKENDS, processes } from './backends.js'
import { build, connect, token, type Client } from './helpers.js'
import { DATABASE_URL, pgReady, testSchema } from './pg-helpers.js'

const read = (room: string, seq: number, ref?: string) => ref === undefined ? { action: 'read', room, seq } : { action: 'read', room, seq, ref }
const say = async (c: Client, content: string, room = 'lobby') => await c.request({ action: 'message', room, content })

t.test('markers: set on a first join, forward only, clamped; joined carries lastRead and unread (others\' messages only)', async (t) => {
  const app = await build(t, { rateLimit: false })
  const bob = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  t.match(await bob.next('joined'), { room: 'lobby', seq: 0, lastRead: 0, unread: 0 })
  await say(bob, 'one')
  await say(bob, 'two')
  const ann = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await ann.next('joined'), { seq: 2, lastRead: 2, unread: 0 }, 'a first join: the room\'s past is not unread')
  for (const c of ['three', 'four', 'five']) await say(bob, c)
  await say(ann, 'mine')
  const tab = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await tab.next('joined'), { seq: 6, lastRead: 2, unread: 3 }, 'a marker per user: the second tab sees it; ann\'s own message is not unread')

  t.same(await ann.request(read('lobby', 4, 'r1')), { type: 'read', room: 'lobby', userId: 'ann', seq: 4, ref: 'r1' }, 'with a ref, the reader hears where its marker is')
  t.same(await tab.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 4 }, 'the user\'s other connection hears of it')
  t.same(await bob.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 4 }, 'the room\'s members too (read receipts)')
  t.match(await ann.request(read('lobby', 3, 'r2')), { type: 'read', seq: 4 }, 'never backwards')
  t.match(await ann.request(read('lobby', 99, 'r3')), { type: 'read', seq: 6 }, 'clamped to the room\'s newest')
  t.match(await tab.next('read'), { seq: 6 })
  await tab.barrier()
  t.equal(tab.queue.filter((f) => f.type === 'read').length, 0, 'a marker that did not move is not told')
  const again = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await again.next('joined'), { lastRead: 6, unread: 0 })

  t.match(await ann.request(read('elsewhere', 1, 'r4')), { type: 'error', code: 'NOT_A_MEMBER', ref: 'r4' })
  for (const bad of [-1, 1.5, '3', null]) t.match(await ann.request({ action: 'read', room: 'lobby', seq: bad }), { type: 'error', code: 'BAD_REQUEST' }, `seq ${JSON.stringify(bad)}`)
  for (const c of [ann, tab, bob, again]) c.close()
})

t.test('unread: deleted messages do not count; GET /users/me/unread and app.chat.unread; app.chat.markRead', async (t) => {
  const app = await build(t, { rateLimit: false })
  const ann = await connect(app, token({ sub: 'ann' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  const acks = []
  for (let i = 1; i <= 4; i++) acks.push(await say(bob, `m${i}`))
  t.match(await bob.request({ action: 'delete', room: 'lobby', id: acks[1].id }), { type: 'ack' })
  await say(ann, 'hi')
  const res = await app.inject({ url: '/users/me/unread', headers: { authorization: `Bearer ${token({ sub: 'ann' })}` } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { rooms: [{ room: 'lobby', seq: 6, lastRead: 0, unread: 3 }] }, 'four from bob, one deleted; the deletion and ann\'s own not counted')
  t.equal((await app.inject({ url: '/users/me/unread' })).statusCode, 401)
  t.same(await app.chat.unread('bob'), [{ room: 'lobby', seq: 6, lastRead: 0, unread: 1 }])
  t.same(await app.chat.unread('nobody'), [])
  await t.rejects(app.chat.unread(''), { code: 'FST_CHAT_INVALID_ARGUMENT' })

  t.equal(await app.chat.markRead('ann', 'lobby', 5), 5)
  t.same(await ann.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 5 }, 'the host marking it: every connection of the user hears of it')
  t.match(await bob.next('read'), { userId: 'ann', seq: 5 })
  t.same(await app.chat.unread('ann'), [{ room: 'lobby', seq: 6, lastRead: 5, unread: 0 }])
  t.equal(await app.chat.markRead('ann', 'lobby', 1), 5, 'never backwards')
  await t.rejects(app.chat.markRead('ann', 'lobby', -1), { code: 'FST_CHAT_INVALID_ARGUMENT' })
  await t.rejects(app.chat.markRead('ann', 'bad room', 1), { code: 'FST_CHAT_INVALID_ROOM' })
  ann.close(); bob.close()
})

t.test('counted up to 1,000, then "1000+"', async (t) => {
  const app = await build(t, { rateLimit: false, history: { size: 1100 } })
  const ann = await connect(app, token({ sub: 'ann' }))
  ann.close()
  await ann.closed
  for (let i = 0; i < 1000; i++) await app.chat.broadcast('lobby', `m${i}`)
  const back = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await back.next('joined'), { seq: 1000, lastRead: 0, unread: 1000 }, 'exactly 1,000')
  await app.chat.broadcast('lobby', 'one more')
  t.same(await app.chat.unread('ann'), [{ room: 'lobby', seq: 1001, lastRead: 0, unread: '1000+' }])
  const third = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await third.next('joined'), { unread: '1000+' })
  back.close(); third.close()
})

t.test('readReceipts: false: the room does not hear of markers, the user\'s other connections still do', async (t) => {
  const app = await build(t, { readReceipts: false })
  const ann = await connect(app, token({ sub: 'ann' }))
  const tab = await connect(app, token({ sub: 'ann' }))
  const elsewhere = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
  await elsewhere.next('joined')
  await elsewhere.request({ action: 'leave', room: 'lobby' })
  const bob = await connect(app, token({ sub: 'bob' }))
  await say(bob, 'hello')
  ann.send(read('lobby', 1))
  t.same(await tab.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 1 })
  t.same(await elsewhere.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 1 }, 'a connection of the user outside the room too')
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'read').length, 0, 'no receipt to the room')
  for (const c of [ann, tab, elsewhere, bob]) c.close()
})

t.test('direct conversations: unread while away, marked by a participant not in the room, receipts to the other', async (t) => {
  const app = await build(t, { rateLimit: false })
  const bob = await connect(app, token({ sub: 'bob' }))
  const first = await bob.request({ action: 'dm', to: 'ann', content: 'are you there?' })
  await bob.request({ action: 'dm', to: 'ann', content: 'ping' })
  const room = first.room ?? (await app.chat.conversations('bob'))[0].room
  t.same(await app.chat.unread('ann'), [{ room, seq: 2, lastRead: 0, unread: 2 }], 'a conversation that came while away is unread (no marker yet)')
  const ann = await connect(app, token({ sub: 'ann' }))
  t.same(await ann.request(read(room, 1, 'x')), { type: 'read', room, userId: 'ann', seq: 1, ref: 'x' }, 'a participant marks it without joining')
  t.same(await bob.next('read'), { type: 'read', room, userId: 'ann', seq: 1 }, 'the other participant hears of it')
  t.match(await ann.request({ action: 'join', room }), { type: 'joined', lastRead: 1, unread: 1 })
  const cat = await connect(app, token({ sub: 'cat' }))
  t.match(await cat.request(read(room, 1, 'y')), { type: 'error', code: 'NOT_A_MEMBER' }, 'nobody else may')
  for (const c of [ann, bob, cat]) c.close()
})

for (const backend of BACKENDS) {
  t.test(`across processes (${backend.name})`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2, { rateLimit: false })
    const ann = await connect(a, token({ sub: 'ann' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    for (let i = 0; i < 3; i++) await say(bob, `m${i}`)
    await ann.next((f) => f.type === 'message' && f.seq === 3)
    const tab = await connect(b, token({ sub: 'ann' }), { defaultRoom: false })
    t.match(await tab.next('joined'), { seq: 3, lastRead: 0, unread: 3 }, 'the marker is the user\'s on every process')
    const away = await connect(b, token({ sub: 'ann' }), { defaultRoom: false })
    await away.next('joined')
    await away.request({ action: 'leave', room: 'lobby' })
    ann.send(read('lobby', 2))
    t.same(await tab.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 2 }, 'a tab on the other process hears of it')
    t.same(await away.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 2 }, 'and one there outside the room')
    t.same(await bob.next('read'), { type: 'read', room: 'lobby', userId: 'ann', seq: 2 }, 'the room on the other process gets the receipt')
    await tab.barrier()
    t.equal(tab.queue.filter((f) => f.type === 'read').length, 0, 'once')
    // (The barrier's probe room was joined too: it has a marker of its own.)
    const lobby = async (app: typeof a) => (await app.chat.unread('ann')).filter((r) => r.room === 'lobby')
    t.same(await lobby(b), [{ room: 'lobby', seq: 3, lastRead: 2, unread: 1 }])
    tab.send(read('lobby', 1))
    t.match(await tab.request(read('lobby', 3, 'z')), { seq: 3 })
    t.match(await ann.next('read'), { seq: 3 })
    t.same(await lobby(a), [{ room: 'lobby', seq: 3, lastRead: 3, unread: 0 }])
    for (const c of [ann, bob, tab, away]) c.close()
  })
}

t.test('with a store: markers and unread counts survive a restart, and count past the hot window', async (t) => {
  if (!await pgReady(t)) return
  const schema = testSchema(t)
  const options = { rateLimit: false as const, history: { size: 5 } }
  const first = await build(t, { ...options, store: postgresStore({ connectionString: DATABASE_URL }, { schema }) })
  const ann = await connect(first, token({ sub: 'ann' }))
  const bob = await connect(first, token({ sub: 'bob' }))
  for (let i = 0; i < 12; i++) await say(bob, `m${i}`)
  await ann.next((f) => f.type === 'message' && f.seq === 4)
  t.match(await ann.request(read('lobby', 4, 'r')), { seq: 4 })
  await say(ann, 'mine')
  ann.close(); bob.close()
  await first.close()

  // Every process gone, memory with it: the markers come from the store.
  const second = await build(t, { ...options, store: postgresStore({ connectionString: DATABASE_URL }, { schema }) })
  const back = await connect(second, token({ sub: 'ann' }), { defaultRoom: false })
  t.match(await back.next('joined'), { seq: 13, lastRead: 4, unread: 8 }, 'the marker survived; 8 of bob\'s after it (beyond the window of 5), not ann\'s own')
  t.same(await second.chat.unread('ann'), [{ room: 'lobby', seq: 13, lastRead: 4, unread: 8 }])
  t.match(await back.request(read('lobby', 2, 'old')), { seq: 4 }, 'still never backwards after the restart')
  back.close()
})

// Bans and mutes: a room ban takes the user's connections out and keeps them out, a chat-wide ban
// closes them with 4003 and refuses upgrades with 403, a mute stops writing but not reading; each
// ends by itself at its ttl or when lifted; known to a new connection from its admission;
// cluster-wide on Redis and on a Redis Cluster; admin REST with Fastify's error bodies.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { BACKENDS, processes } from './backends.js'
import { adminToken, build, connect, token } from './helpers.js'
import { until } from './redis-helpers.js'

const admin = { authorization: `Bearer ${adminToken()}` }

/** An upgrade request through inject: the auth hook's answer, before any socket. */
async function upgrade (app: FastifyInstance, sub: string) {
  return await app.inject({
    url: '/chat',
    headers: { authorization: `Bearer ${token({ sub })}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
  })
}

t.test('a room ban: out at once, on every connection, and kept out; other rooms untouched; unban', async (t) => {
  const app = await build(t)
  const alice = await connect(app, token({ sub: 'alice' }))
  const tab1 = await connect(app, token({ sub: 'bob', name: 'Bob' }))
  const tab2 = await connect(app, token({ sub: 'bob', name: 'Bob' }))
  for (const c of [alice, tab1, tab2]) await c.request({ action: 'join', room: 'r' })
  const ban = await app.chat.ban('bob', { room: 'r', reason: 'spam' })
  t.match(ban, { kind: 'ban', userId: 'bob', room: 'r', reason: 'spam', at: Number })
  t.notOk('until' in ban, 'no ttl: until lifted')
  t.same(await tab1.next('left'), { type: 'left', room: 'r', members: 2, reason: 'banned' })
  t.same(await tab2.next('left'), { type: 'left', room: 'r', members: 1, reason: 'banned' })
  t.match(await alice.next((f) => f.type === 'userLeft' && f.room === 'r'), { userId: 'bob', name: 'Bob', connections: 0, reason: 'banned' })
  t.same((await app.chat.members('r')).map((m) => m.userId), ['alice'])
  t.match(await tab1.request({ action: 'join', room: 'r' }), { type: 'error', code: 'BANNED', message: 'you are banned from room "r"' })
  const late = await connect(app, token({ sub: 'bob' }))
  t.match(await late.request({ action: 'join', room: 'r' }), { code: 'BANNED' }, 'a new connection knows it from its admission')
  await t.rejects(app.chat.join(late.id, 'r'), { code: 'FST_CHAT_BANNED', statusCode: 403 }, 'an admin join is refused too')
  t.match(await tab1.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' }, 'other rooms are untouched')
  t.same((await app.chat.bans('r')).map((b) => [b.userId, b.reason]), [['bob', 'spam']])

  t.equal(await app.chat.unban('bob', { room: 'r' }), true)
  t.equal(await app.chat.unban('bob', { room: 'r' }), false, 'nothing left to lift')
  t.match(await tab1.request({ action: 'join', room: 'r' }), { type: 'joined' }, 'unbanned: it may join again')
  t.match(await late.request({ action: 'join', room: 'r' }), { type: 'joined' })
  t.same(await app.chat.bans('r'), [])
  for (const c of [alice, tab1, tab2, late]) c.close()
})

t.test('a ban with a ttl ends by itself', async (t) => {
  const app = await build(t)
  const bob = await connect(app, token({ sub: 'bob' }))
  await app.chat.ban('bob', { room: 'r', ttl: 300 })
  t.match(await bob.request({ action: 'join', room: 'r' }), { code: 'BANNED' })
  await until(async () => (await bob.request({ action: 'join', room: 'r' })).type === 'joined', 5000, 'the ban ended')
  t.same(await app.chat.bans('r'), [], 'and is listed no more')
  bob.close()
})

t.test('a chat-wide ban: every connection closed with 4003, upgrades refused with 403 until lifted', async (t) => {
  const app = await build(t)
  const tab1 = await connect(app, token({ sub: 'bob' }))
  const tab2 = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  const alice = await connect(app, token({ sub: 'alice' }))
  await app.chat.ban('bob', { reason: 'abuse' })
  t.same(await tab1.closedWithin(), { code: 4003, reason: 'banned' })
  t.same(await tab2.closedWithin(), { code: 4003, reason: 'banned' })
  const refused = await upgrade(app, 'bob')
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { code: 'FST_CHAT_BANNED', message: 'This user is banned from this chat' })
  t.equal((await upgrade(app, 'alice')).statusCode, 404, 'others still pass the hook (inject cannot upgrade: 404 after it)')
  t.match(await alice.request({ action: 'message', room: 'lobby', content: 'hi' }), { type: 'ack' })
  t.equal(await app.chat.unban('bob'), true)
  const back = await connect(app, token({ sub: 'bob' }))
  t.match(await back.request({ action: 'message', room: 'lobby', content: 'back' }), { type: 'ack' }, 'lifted: it connects again')
  await app.chat.ban('bob', { ttl: 200 })
  t.same(await back.closedWithin(), { code: 4003, reason: 'banned' })
  await until(async () => (await upgrade(app, 'bob')).statusCode !== 403, 5000, 'the ban ended')
  t.pass('a ttl ban ends by itself')
  alice.close()
})

t.test('a mute: writing answered MUTED, reading and deleting still work; in one room or everywhere', async (t) => {
  const app = await build(t)
  const alice = await connect(app, token({ sub: 'alice' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  for (const c of [alice, bob]) await c.request({ action: 'join', room: 'r' })
  const mine = await bob.request({ action: 'message', room: 'r', content: 'before' })
  await app.chat.mute('bob', { room: 'r', reason: 'cool down' })
  const muted = await bob.request({ action: 'message', room: 'r', content: 'hello?' })
  t.match(muted, { type: 'error', code: 'MUTED', message: /muted in room "r".*cool down/ })
  t.match(await bob.request({ action: 'edit', room: 'r', id: mine.id, content: 'changed' }), { code: 'MUTED' }, 'an edit says something new')
  t.match(await bob.request({ action: 'message', room: 'lobby', content: 'elsewhere' }), { type: 'ack' }, 'other rooms: not muted')
  await alice.request({ action: 'message', room: 'r', content: 'can you read me?' })
  t.match(await bob.next((f) => f.type === 'message' && f.content === 'can you read me?'), { room: 'r' }, 'reading works')
  t.match(await bob.request({ action: 'delete', room: 'r', id: mine.id }), { type: 'ack' }, 'deleting its own message works')
  await alice.barrier()
  t.notOk(alice.queue.some((f) => f.type === 'message' && f.content === 'hello?'), 'nothing muted reached anyone')
  t.same((await app.chat.mutes('r')).map((m) => m.userId), ['bob'])

  const other = await connect(app, token({ sub: 'bob' }))
  await other.request({ action: 'join', room: 'r' })
  t.match(await other.request({ action: 'message', room: 'r', content: 'from my phone' }), { code: 'MUTED' }, 'a new connection is muted too')
  t.equal(await app.chat.unmute('bob', { room: 'r' }), true)
  t.match(await bob.request({ action: 'message', room: 'r', content: 'thanks' }), { type: 'ack' })
  t.match(await other.request({ action: 'message', room: 'r', content: 'thanks' }), { type: 'ack' })

  await app.chat.mute('bob', { ttl: 300 })
  t.match(await bob.request({ action: 'message', room: 'lobby', content: 'x' }), { code: 'MUTED', message: /muted in this chat/ }, 'a chat-wide mute')
  await until(async () => (await bob.request({ action: 'message', room: 'lobby', content: 'y' })).type === 'ack', 5000, 'the mute ended')
  t.pass('a ttl mute ends by itself')
  for (const c of [alice, bob, other]) c.close()
})

t.test('bad arguments are refused with a coded error, naming what is wrong', async (t) => {
  const app = await build(t)
  await t.rejects(app.chat.ban(''), { code: 'FST_CHAT_INVALID_RESTRICTION', statusCode: 400, message: /userId/ })
  await t.rejects(app.chat.ban('bob', { ttl: 0 }), { code: 'FST_CHAT_INVALID_RESTRICTION', message: /ttl/ })
  await t.rejects(app.chat.mute('bob', { ttl: 1.5 }), { message: /ttl/ })
  await t.rejects(app.chat.mute('bob', { room: 'bad room' }), { message: /room/ })
  await t.rejects(app.chat.ban('bob', { reason: 'x'.repeat(501) }), { message: /reason/ })
  await t.rejects(app.chat.bans('bad room'), { code: 'FST_CHAT_INVALID_RESTRICTION' })
})

t.test('admin REST: PUT, GET, DELETE for a room and for the whole chat', async (t) => {
  const app = await build(t)
  const bob = await connect(app, token({ sub: 'bob' }))
  const user = { authorization: `Bearer ${token({ sub: 'someone' })}` }
  t.equal((await app.inject({ method: 'PUT', url: '/rooms/r/bans/bob', headers: user, payload: {} })).statusCode, 403, 'admins only')
  const put = await app.inject({ method: 'PUT', url: '/rooms/r/bans/bob', headers: admin, payload: { ttl: 60_000, reason: 'spam' } })
  t.equal(put.statusCode, 200)
  t.match(put.json(), { kind: 'ban', userId: 'bob', room: 'r', reason: 'spam', until: Number, at: Number })
  t.match(await bob.request({ action: 'join', room: 'r' }), { code: 'BANNED' })
  const list = await app.inject({ url: '/rooms/r/bans', headers: admin })
  t.match(list.json(), { room: 'r', bans: [{ userId: 'bob', reason: 'spam' }] })
  t.equal((await app.inject({ method: 'PUT', url: '/rooms/r/bans/bob', headers: admin })).statusCode, 200, 'without a body: until lifted')
  t.notOk('until' in (await app.chat.bans('r'))[0], 'the new ban replaced the old')
  const bad = await app.inject({ method: 'PUT', url: '/rooms/r/mutes/bob', headers: admin, payload: { ttl: -1 } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: 'FST_ERR_VALIDATION', message: /ttl/ })
  t.equal((await app.inject({ method: 'DELETE', url: '/rooms/r/bans/bob', headers: admin })).statusCode, 204)
  const none = await app.inject({ method: 'DELETE', url: '/rooms/r/bans/bob', headers: admin })
  t.equal(none.statusCode, 404)
  t.match(none.json(), { code: 'FST_CHAT_NO_RESTRICTION', message: 'No ban of user "bob" in force in room "r"' })
  t.equal((await app.inject({ method: 'PUT', url: '/rooms/r/mutes/bob', headers: admin, payload: {} })).statusCode, 200)
  t.match((await app.inject({ url: '/rooms/r/mutes', headers: admin })).json(), { room: 'r', mutes: [{ userId: 'bob' }] })

  t.equal((await app.inject({ method: 'PUT', url: '/bans/bob', headers: admin, payload: { reason: 'gone' } })).statusCode, 200)
  t.same(await bob.closedWithin(), { code: 4003, reason: 'banned' })
  t.equal((await upgrade(app, 'bob')).statusCode, 403)
  t.equal((await app.inject({ method: 'DELETE', url: '/bans/bob', headers: admin })).statusCode, 204)
  t.equal((await app.inject({ method: 'DELETE', url: '/bans/bob', headers: admin })).statusCode, 404)
  t.equal((await app.inject({ method: 'PUT', url: '/mutes/bob', headers: admin, payload: { ttl: 1000 } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/mutes/bob', headers: admin })).statusCode, 204)
})

for (const backend of BACKENDS.filter((b) => b.redis)) {
  t.test(`cluster-wide (${backend.name}): a ban or mute made on one process holds on the others`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2)
    const alice = await connect(a, token({ sub: 'alice' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    await alice.request({ action: 'join', room: 'r' })
    await bob.request({ action: 'join', room: 'r' })
    await a.chat.ban('bob', { room: 'r' })
    t.match(await bob.next('left'), { room: 'r', reason: 'banned' }, 'its connection on the other process is taken out')
    t.match(await alice.next((f) => f.type === 'userLeft' && f.room === 'r'), { userId: 'bob', reason: 'banned' })
    t.match(await bob.request({ action: 'join', room: 'r' }), { code: 'BANNED' })
    t.same((await b.chat.bans('r')).map((x) => x.userId), ['bob'], 'listed on every process')
    await a.chat.mute('bob')
    t.match(await bob.request({ action: 'message', room: 'lobby', content: 'x' }), { code: 'MUTED' })
    const fresh = await connect(a, token({ sub: 'bob' }))
    t.match(await fresh.request({ action: 'message', room: 'lobby', content: 'x' }), { code: 'MUTED' }, 'a new connection on another process knows')
    await b.chat.unmute('bob')
    t.match(await fresh.request({ action: 'message', room: 'lobby', content: 'y' }), { type: 'ack' })
    await b.chat.ban('bob')
    t.same(await bob.closedWithin(), { code: 4003, reason: 'banned' })
    t.same(await fresh.closedWithin(), { code: 4003, reason: 'banned' })
    t.equal((await upgrade(a, 'bob')).statusCode, 403, 'refused on every process')
    t.equal((await upgrade(b, 'bob')).statusCode, 403)
    const watcher = await connect(a, token({ sub: 'watcher' }))
    await watcher.request({ action: 'watch', users: ['bob'] })
    t.match(await watcher.next('presence'), { userId: 'bob', online: false })
    t.equal((await upgrade(b, 'bob')).statusCode, 403)
    await watcher.barrier()
    t.equal(watcher.queue.filter((f) => f.type === 'presence').length, 0, 'a refused upgrade of a banned user is never online, not even for a moment')
    await a.chat.unban('bob')
    t.equal((await upgrade(b, 'bob')).statusCode, 404, 'lifted everywhere (inject cannot upgrade: 404 after the hook)')
    watcher.close()
    alice.close()
  })
}

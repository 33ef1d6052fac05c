import t from 'tap'
import { build, connect, token, withoutEpoch } from './helpers.js'

t.test('app.chat queries', async (t) => {
  const app = await build(t)
  t.same(await app.chat.rooms(), [])
  t.equal(await app.chat.room('lobby'), null)
  t.same(await app.chat.members('lobby'), [])
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await b.request({ action: 'join', room: 'b-room' })
  t.same(await app.chat.rooms(), [{ name: 'b-room', members: 1 }, { name: 'lobby', members: 2 }])
  t.same(await app.chat.room('lobby'), { name: 'lobby', members: 2 })
  const members = await app.chat.members('lobby')
  t.same(members.map((m) => m.userId), ['alice', 'bob'])
  t.equal(members[0].clientId, a.id)
  await t.rejects(app.chat.room('bad name'), { code: 'FST_CHAT_INVALID_ROOM', statusCode: 400 })
  await t.rejects(app.chat.members(42 as unknown as string), { code: 'FST_CHAT_INVALID_ROOM' })
  a.close(); b.close()
})

t.test('app.chat.join and leave act on a connected client', async (t) => {
  const app = await build(t, { maxRoomsPerConnection: 2 })
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')
  t.equal(await app.chat.join(b.id, 'team'), true)
  t.same(withoutEpoch(await b.next('joined')), { type: 'joined', room: 'team', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0 })
  t.equal(await app.chat.join(b.id, 'team'), false, 'already a member')
  t.same(withoutEpoch(await b.next('joined')), { type: 'joined', room: 'team', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0 })
  await t.rejects(app.chat.join(b.id, 'third'), { code: 'FST_CHAT_TOO_MANY_ROOMS', statusCode: 409 })
  await t.rejects(app.chat.join('nobody', 'team'), { code: 'FST_CHAT_CLIENT_NOT_FOUND', statusCode: 404 })
  await t.rejects(app.chat.join(b.id, 'no spaces'), { code: 'FST_CHAT_INVALID_ROOM' })

  t.equal(await app.chat.leave(b.id, 'lobby'), true)
  t.same(await b.next('left'), { type: 'left', room: 'lobby', members: 1, reason: 'removed' })
  t.match(await a.next('userLeft'), { room: 'lobby', clientId: b.id, reason: 'removed' })
  t.equal(await app.chat.leave(b.id, 'lobby'), false, 'not a member')
  t.equal(await app.chat.leave('nobody', 'lobby'), false, 'not connected')
  a.close(); b.close()
})

t.test('app.chat.broadcast sends a server message', async (t) => {
  const app = await build(t, { maxMessageLength: 5 })
  const a = await connect(app)
  const { id } = await app.chat.broadcast('lobby', 'hello')
  t.match(await a.next('message'), { id, room: 'lobby', from: 'server', userId: 'server', content: 'hello' })
  t.match(await app.chat.broadcast('empty-room', 'x'), { id: String }, 'to nobody')
  await t.rejects(app.chat.broadcast('lobby', 'too long'), { code: 'FST_CHAT_INVALID_CONTENT', statusCode: 400 })
  await t.rejects(app.chat.broadcast('lobby', ''), { code: 'FST_CHAT_INVALID_CONTENT' })
  await t.rejects(app.chat.broadcast('lobby', null as unknown as string), { code: 'FST_CHAT_INVALID_CONTENT' })
  await t.rejects(app.chat.broadcast('a/b', 'x'), { code: 'FST_CHAT_INVALID_ROOM' })
  a.close()
})

t.test('app.chat.disconnect closes a socket with the given code', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')
  await t.rejects(app.chat.disconnect(b.id, 1005), { code: 'FST_CHAT_INVALID_CLOSE_CODE' })
  await t.rejects(app.chat.disconnect(b.id, 2999), { code: 'FST_CHAT_INVALID_CLOSE_CODE' })
  await t.rejects(app.chat.disconnect(b.id, 4000, 'x'.repeat(124)), { code: 'FST_CHAT_INVALID_CLOSE_REASON' })
  t.equal(await app.chat.disconnect(b.id, 4003, 'banned'), true)
  t.same(await b.closed, { code: 4003, reason: 'banned' })
  t.match(await a.next('userLeft'), { clientId: b.id, reason: 'closed' })
  t.equal(await app.chat.disconnect(b.id), false, 'gone')
  t.equal(await app.chat.disconnect(a.id), true)
  t.equal((await a.closed).code, 1000, 'default code 1000')
})

t.test('app.chat.stats counts connections, rooms, members and frames', async (t) => {
  const app = await build(t)
  t.same(await app.chat.stats(), { connections: 0, rooms: 0, members: 0, messagesIn: 0, messagesOut: 0 })
  const a = await connect(app, token({ sub: 'alice' })) // welcome + joined: 2 out
  const b = await connect(app, token({ sub: 'bob' })) // welcome + joined + userJoined to a: 3 out
  await a.next('userJoined')
  await a.request({ action: 'join', room: 'x' }) // 1 in, joined: 1 out
  a.send({ action: 'message', room: 'lobby', content: 'hi', ref: 1 }) // 1 in, ack + 2 messages: 3 out
  await a.next('ack'); await a.next('message'); await b.next('message')
  t.same(await app.chat.stats(), { connections: 2, rooms: 2, members: 3, messagesIn: 2, messagesOut: 9 })
  a.close(); b.close()
})

import t from 'tap'
import { build, connect, token, withoutEpoch } from './helpers.js'

t.test('welcome, then the default room', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }), { defaultRoom: false })
  t.match(a.welcome, { type: 'welcome', message: 'Connected to chat server', userId: 'alice' })
  t.type(a.welcome!.clientId, 'string')
  t.same(withoutEpoch(await a.next('joined')), { type: 'joined', room: 'lobby', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0 })
  const b = await connect(app, token({ sub: 'bob' }))
  t.not(b.id, a.id, 'clientIds are unique')
  t.same(await a.next('userJoined'), { type: 'userJoined', room: 'lobby', clientId: b.id, userId: 'bob', connections: 1 })
  a.close(); b.close()
})

t.test('join, message, leave, with refs echoed', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')

  a.send({ action: 'join', room: 'general', ref: 'j1' })
  t.same(withoutEpoch(await a.next('joined')), { type: 'joined', room: 'general', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0, ref: 'j1' })
  b.send({ action: 'join', room: 'general', ref: 7 })
  t.same(withoutEpoch(await b.next('joined')), { type: 'joined', room: 'general', members: 2, users: 2, seq: 0, lastRead: 0, unread: 0, ref: 7 })
  t.same(await a.next('userJoined'), { type: 'userJoined', room: 'general', clientId: b.id, userId: 'bob', connections: 1 })

  const before = Date.now()
  a.send({ action: 'message', room: 'general', content: 'hello', ref: 'm1' })
  const ack = await a.next('ack')
  t.same(Object.keys(ack).sort(), ['id', 'ref', 'seq', 'type'])
  t.equal(ack.seq, 1, 'the first message of the room')
  t.equal(ack.ref, 'm1')
  const seenByA = await a.next('message')
  const seenByB = await b.next('message')
  t.same(seenByA, seenByB, 'the sender gets the same frame as the others')
  t.same(Object.keys(seenByB).sort(), ['content', 'epoch', 'from', 'id', 'room', 'seq', 'timestamp', 'type', 'userId'])
  t.equal(seenByB.seq, ack.seq)
  t.match(seenByB, { room: 'general', id: ack.id, from: a.id, userId: 'alice', content: 'hello' })
  t.ok(seenByB.timestamp >= before && seenByB.timestamp <= Date.now(), 'timestamp is the send time in ms')

  b.send({ action: 'message', room: 'general', content: 'no ref' })
  const m2 = await a.next('message')
  t.not(m2.id, ack.id, 'message ids are unique')
  await b.next('message')
  t.equal(b.queue.find((f) => f.type === 'ack'), undefined, 'no ack without a ref')

  b.send({ action: 'leave', room: 'general', ref: 'l1' })
  t.same(await b.next('left'), { type: 'left', room: 'general', members: 1, ref: 'l1' })
  t.same(await a.next('userLeft'), { type: 'userLeft', room: 'general', clientId: b.id, userId: 'bob', connections: 0, reason: 'left' })

  // b is no longer a member: its messages are refused, and it no longer receives the room's.
  b.send({ action: 'message', room: 'general', content: 'let me in', ref: 'x' })
  t.match(await b.next('error'), { code: 'NOT_A_MEMBER', ref: 'x' })
  a.send({ action: 'message', room: 'general', content: 'only me', ref: 'a2' })
  await a.next('ack')
  await b.barrier()
  t.equal(b.queue.find((f) => f.type === 'message'), undefined, 'a former member gets no messages')
  a.close(); b.close()
})

t.test('joining a room twice answers joined again and announces nothing', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')
  b.send({ action: 'join', room: 'lobby', ref: 'again' })
  t.same(withoutEpoch(await b.next('joined')), { type: 'joined', room: 'lobby', members: 2, users: 2, seq: 0, lastRead: 0, unread: 0, ref: 'again' })
  await a.barrier()
  t.same(a.queue, [], 'no second userJoined')
  a.close(); b.close()
})

t.test("the seed's plain {content} is a message to the default room", async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  a.send({ content: 'plain hello', ref: 'p' })
  t.match(await a.next('ack'), { ref: 'p' })
  t.match(await a.next('message'), { room: 'lobby', content: 'plain hello', userId: 'alice' })
  a.send({ action: 'leave', room: 'lobby' })
  await a.next('left')
  a.send({ content: 'after leaving' })
  t.match(await a.next('error'), { code: 'NOT_A_MEMBER' })
  a.close()
})

t.test('without a default room, plain content is a BAD_REQUEST', async (t) => {
  const app = await build(t, { defaultRoom: false })
  const a = await connect(app, token(), { defaultRoom: false })
  t.same(await app.chat.rooms(), [], 'nobody was put in a room')
  a.send({ content: 'hello?', ref: 1 })
  t.match(await a.next('error'), { code: 'BAD_REQUEST', ref: 1, message: /default room/ })
  a.close()
})

t.test('every error code, and the connection keeps working after each', async (t) => {
  const app = await build(t, { maxMessageLength: 10, maxRoomsPerConnection: 2 })
  const a = await connect(app)
  const cases: Array<[string, unknown, string, unknown?]> = [
    ['not JSON', '{"action":', 'BAD_JSON'],
    ['empty frame', '', 'BAD_JSON'],
    ['a JSON string', '"join"', 'BAD_REQUEST'],
    ['a JSON array', '[1,2]', 'BAD_REQUEST'],
    ['null', 'null', 'BAD_REQUEST'],
    ['unknown action', { action: 'shout', room: 'lobby', ref: 'u' }, 'BAD_REQUEST', 'u'],
    ['__proto__ action', '{"action":"__proto__","room":"lobby"}', 'BAD_REQUEST'],
    ['action not a string', { action: 1, room: 'lobby' }, 'BAD_REQUEST'],
    ['missing room', { action: 'join', ref: 2 }, 'BAD_REQUEST', 2],
    ['room with a space', { action: 'join', room: 'a b' }, 'BAD_REQUEST'],
    ['room too long', { action: 'join', room: 'x'.repeat(65) }, 'BAD_REQUEST'],
    ['empty room', { action: 'join', room: '' }, 'BAD_REQUEST'],
    ['room with a slash', { action: 'join', room: 'a/b' }, 'BAD_REQUEST'],
    ['room not a string', { action: 'join', room: 5 }, 'BAD_REQUEST'],
    ['content too long', { action: 'message', room: 'lobby', content: 'x'.repeat(11), ref: 'long' }, 'BAD_REQUEST', 'long'],
    ['empty content', { action: 'message', room: 'lobby', content: '' }, 'BAD_REQUEST'],
    ['content not a string', { action: 'message', room: 'lobby', content: { html: 1 } }, 'BAD_REQUEST'],
    ['unknown property', { action: 'message', room: 'lobby', content: 'hi', from: 'someone-else' }, 'BAD_REQUEST'],
    ['ref too long is not echoed', { action: 'shout', ref: 'r'.repeat(65) }, 'BAD_REQUEST'],
    ['ref of a bad type is not echoed', { action: 'shout', ref: { a: 1 } }, 'BAD_REQUEST'],
    ['message to a room one is not in', { action: 'message', room: 'elsewhere', content: 'hi', ref: 'n' }, 'NOT_A_MEMBER', 'n'],
    ['leave a room one is not in', { action: 'leave', room: 'elsewhere', ref: 'nl' }, 'NOT_A_MEMBER', 'nl']
  ]
  for (const [name, frame, code, ref] of cases) {
    a.send(frame)
    const error = await a.next('error')
    t.equal(error.code, code, name)
    t.type(error.message, 'string', `${name}: has a message`)
    if (ref === undefined) t.notOk('ref' in error, `${name}: no ref`)
    else t.equal(error.ref, ref, `${name}: ref echoed`)
  }

  a.send(Buffer.from([1, 2, 3]))
  t.match(await a.next('error'), { code: 'UNSUPPORTED' }, 'a binary frame')

  // lobby + one more = 2, the limit
  t.match(await a.request({ action: 'join', room: 'second' }), { type: 'joined' })
  t.match(await a.request({ action: 'join', room: 'third' }), { type: 'error', code: 'TOO_MANY_ROOMS' })
  t.notOk(await app.chat.room('third'), 'the refused join changed nothing')

  t.match(await a.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' })
  t.match(await a.next('message'), { content: 'still here' })
  a.close()
})

t.test('odd room names are ordinary rooms', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__']
  for (const room of names) {
    t.match(await b.request({ action: 'message', room, content: 'x' }), { type: 'error', code: 'NOT_A_MEMBER' }, `${room}: not a member before joining`)
    t.match(await a.request({ action: 'join', room }), { type: 'joined', room, members: 1 }, `${room}: first member`)
    t.match(await b.request({ action: 'join', room }), { type: 'joined', room, members: 2 }, `${room}: second member`)
    t.match(await a.request({ action: 'message', room, content: `in ${room}` }), { type: 'ack' })
    t.match(await b.next((f) => f.type === 'message' && f.room === room), { content: `in ${room}` })
  }
  const rooms = await app.chat.rooms()
  t.same(rooms.map((r) => r.name), ['__defineGetter__', '__proto__', 'constructor', 'hasOwnProperty', 'lobby', 'prototype', 'toString', 'valueOf'])
  t.ok(rooms.every((r) => r.members === 2))
  for (const room of names) {
    t.match(await a.request({ action: 'leave', room }), { type: 'left', room, members: 1 })
    t.match(await b.request({ action: 'leave', room }), { type: 'left', room, members: 0 })
  }
  t.same((await app.chat.rooms()).map((r) => r.name), ['lobby'], 'empty rooms are gone')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  a.close(); b.close()
})

t.test('a bad frame from one client never reaches or disturbs another', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')
  b.send('not json at all')
  b.send({ action: 'message', room: 'lobby', content: 'x', type: 'message', from: 'server' })
  b.send(Buffer.from('binary'))
  await b.next('error'); await b.next('error'); await b.next('error')
  await a.barrier()
  t.same(a.queue, [], 'the other client saw nothing')
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'fine' }), { type: 'ack' })
  t.match(await b.next('message'), { content: 'fine' })
  a.close(); b.close()
})

t.test('messages from one sender arrive in the order sent', async (t) => {
  const app = await build(t, { rateLimit: false })
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  for (let i = 0; i < 200; i++) a.send({ action: 'message', room: 'lobby', content: `m${i}` })
  for (let i = 0; i < 200; i++) t.equal((await b.next('message')).content, `m${i}`)
  a.close(); b.close()
})

t.test('a connection is closed and leaves its rooms: others get userLeft with reason closed', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.next('userJoined')
  await b.request({ action: 'join', room: 'r2' })
  await a.request({ action: 'join', room: 'r2' })
  b.ws.close()
  const left = [await a.next('userLeft'), await a.next('userLeft')]
  t.same(left.map((f) => f.room).sort(), ['lobby', 'r2'])
  t.ok(left.every((f) => f.reason === 'closed' && f.clientId === b.id && f.userId === 'bob'))
  t.same(await app.chat.rooms(), [{ name: 'lobby', members: 1 }, { name: 'r2', members: 1 }])
  t.equal((await app.chat.stats()).connections, 1)
  a.close()
})

t.test('presence: announced only in rooms up to the limit, or always, or never', async (t) => {
  for (const [presence, expectJoins, expectLeave] of [[2, 1, false], [true, 2, true], [false, 0, false]] as const) {
    // Batching off: the barrier below must see every presence frame already sent (presence-batch.test.ts tests batching).
    const app = await build(t, { presence: presence === false ? false : { limit: presence, batch: 0 }, defaultRoom: false })
    const a = await connect(app, token({ sub: 'a' }), { defaultRoom: false })
    const b = await connect(app, token({ sub: 'b' }), { defaultRoom: false })
    const c = await connect(app, token({ sub: 'c' }), { defaultRoom: false })
    for (const x of [a, b, c]) await x.request({ action: 'join', room: 'p' })
    await c.request({ action: 'leave', room: 'p' }) // the room had 3 members
    await a.barrier()
    const joins = a.queue.filter((f) => f.type === 'userJoined').length
    const leaves = a.queue.filter((f) => f.type === 'userLeft').length
    t.equal(joins, expectJoins, `presence ${presence}: userJoined seen by the first member`)
    t.equal(leaves, expectLeave ? 1 : 0, `presence ${presence}: userLeft from a room of 3`)
    t.match(await b.request({ action: 'leave', room: 'p' }), { type: 'left', members: 1 }, 'joined/left counts are always sent')
    a.close(); b.close(); c.close()
    await app.close()
  }
})

t.test("a message carries the sender's display name: the token's name claim, when it has one", async (t) => {
  const app = await build(t)
  const ann = await connect(app, token({ sub: 'ann', name: '  Ann Lee  ' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  const long = await connect(app, token({ sub: 'long', name: 'x'.repeat(100) }))
  await ann.request({ action: 'message', room: 'lobby', content: 'hi' })
  t.match(await bob.next('message'), { userId: 'ann', name: 'Ann Lee', content: 'hi' }, 'trimmed')
  await bob.request({ action: 'message', room: 'lobby', content: 'yo' })
  const noName = await ann.next((f) => f.type === 'message' && f.userId === 'bob')
  t.notOk('name' in noName, 'no name claim, no name')
  await long.request({ action: 'message', room: 'lobby', content: 'z' })
  t.equal((await bob.next((f) => f.type === 'message' && f.userId === 'long')).name, 'x'.repeat(64), 'at most 64 characters')
  ann.close(); bob.close(); long.close()
})

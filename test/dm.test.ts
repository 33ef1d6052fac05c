// Direct messages: to every connection of the recipient and the sender's other ones, on any
// process, in a room derived from both ids that only the two may join or read; an offline user
// finds them when back; canMessage; server notices (sendToUser); edits, refs and mutes as in rooms.
import t from 'tap'
import { directRoom } from '../lib/core/direct.js'
import { BACKENDS, processes } from './backends.js'
import { adminToken, build, connect, token } from './helpers.js'

const ROOM = /^dm:[A-Za-z0-9_-]{43}$/

t.test('a dm reaches every tab of the recipient and the sender\'s other tabs, in a room both ways the same', async (t) => {
  const app = await build(t)
  const alice1 = await connect(app, token({ sub: 'alice', name: 'Alice' }))
  const alice2 = await connect(app, token({ sub: 'alice', name: 'Alice' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  const room = directRoom('alice', 'bob')
  t.equal(room, directRoom('bob', 'alice'), 'the same both ways')
  t.match(room, ROOM, 'within the room-name pattern')
  t.match(directRoom('a b/ü\u{1F600}', 'x'.repeat(1000)), ROOM, 'whatever the ids look like')
  const ack = await alice1.request({ action: 'dm', to: 'bob', content: 'psst', ref: 'd1' })
  t.match(ack, { type: 'ack', ref: 'd1', seq: 1 })
  for (const c of [bob, alice2, alice1]) {
    t.match(await c.next((f) => f.type === 'joined' && f.room === room), { room, seq: 0 }, 'made a member of the conversation, before the message')
    t.match(await c.next('message'), { room, seq: 1, userId: 'alice', name: 'Alice', to: 'bob', content: 'psst' })
  }
  t.same(await app.chat.room(room), { name: room, members: 3 }, 'every tab of both')
  t.same(await alice1.request({ action: 'dm', to: 'bob', content: 'psst', ref: 'd1' }), ack, 'a resend gets the original ack')
  await alice1.request({ action: 'dm', to: 'bob', content: 'again', ref: 'd2' })
  await alice1.next((f) => f.type === 'message' && f.content === 'again')
  t.equal(alice1.queue.filter((f) => f.type === 'joined').length, 0, 'members already: no joined again')
  const reply = await bob.request({ action: 'message', room, content: 'yes?' })
  t.match(reply, { type: 'ack', seq: 3 }, 'a message in the conversation\'s room is a dm too')
  t.match(await alice2.next((f) => f.type === 'message' && f.userId === 'bob'), { seq: 3, to: 'alice' })
  t.match(await bob.request({ action: 'edit', room, id: reply.id, content: 'yes!' }), { type: 'ack', seq: 4 }, 'edits work')
  t.match(await alice1.next((f) => f.type === 'edited'), { id: reply.id, content: 'yes!' })
  const late = await connect(app, token({ sub: 'bob' }))
  await bob.request({ action: 'dm', to: 'alice', content: 'and again' })
  t.match(await late.next('message'), { content: 'and again', to: 'alice' }, 'the sender\'s tab that opened since gets it too')
  for (const c of [alice1, alice2, bob, late]) c.close()
})

t.test('an offline recipient finds it when back; only the two may join or read', async (t) => {
  const app = await build(t, { canReadDirect: (admin, _room, pair) => admin.sub === 'auditor' && pair.includes('carol') })
  const alice = await connect(app, token({ sub: 'alice' }))
  await alice.request({ action: 'dm', to: 'carol', content: 'call me', meta: { urgent: true } })
  const room = directRoom('alice', 'carol')
  const carolAuth = { authorization: `Bearer ${token({ sub: 'carol' })}` }
  const list = (await app.inject({ url: '/users/me/conversations', headers: carolAuth })).json()
  t.same(list, { conversations: [{ room, with: 'alice', seq: 1 }] }, 'listed with its newest seq')
  const carol = await connect(app, token({ sub: 'carol' }))
  const back = await carol.request({ action: 'join', room, since: { seq: 0, epoch: (await app.chat.history(room)).epoch } })
  t.match(back, { type: 'joined', recovered: true })
  t.match(await carol.next('message'), { content: 'call me', meta: { urgent: true }, to: 'carol' })
  t.equal((await app.inject({ url: `/rooms/${room}/messages`, headers: carolAuth })).statusCode, 200, 'a participant reads the history')

  const eve = await connect(app, token({ sub: 'eve' }))
  t.match(await eve.request({ action: 'join', room }), { type: 'error', code: 'FORBIDDEN' }, 'a third user may not join')
  t.match(await eve.request({ action: 'message', room, content: 'hi' }), { code: 'NOT_A_MEMBER' })
  const root = await connect(app, adminToken('root'))
  t.match(await root.request({ action: 'join', room }), { code: 'FORBIDDEN' }, 'nor an admin, over the socket')
  await t.rejects(app.chat.join(eve.id, room), { code: 'FST_CHAT_JOIN_FORBIDDEN' }, 'nor through app.chat')
  // To anyone else the conversation does not exist: 404, as for one that never was.
  const eveRead = await app.inject({ url: `/rooms/${room}/messages`, headers: { authorization: `Bearer ${token({ sub: 'eve' })}` } })
  t.equal(eveRead.statusCode, 404)
  t.match(eveRead.json(), { code: 'FST_CHAT_ROOM_NOT_FOUND' })
  t.equal((await app.inject({ url: `/rooms/${room}/members`, headers: { authorization: `Bearer ${token({ sub: 'eve' })}` } })).statusCode, 404)
  t.equal((await app.inject({ url: `/rooms/${room}/messages`, headers: { authorization: `Bearer ${adminToken('root')}` } })).statusCode, 404, 'an admin, by default, may not read it')
  t.equal((await app.inject({ url: `/rooms/${room}/messages`, headers: { authorization: `Bearer ${adminToken('auditor')}` } })).statusCode, 200, 'unless canReadDirect allows')
  t.equal((await app.inject({ url: `/rooms/${directRoom('x', 'y')}/messages`, headers: { authorization: `Bearer ${adminToken('auditor')}` } })).statusCode, 404, 'a conversation that never was')
  const post = await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, headers: { authorization: `Bearer ${adminToken('root')}` }, payload: { content: 'hello from the admin' } })
  t.equal(post.statusCode, 403, 'an admin may not write into it over REST either')
  t.same(await app.chat.participants(room), ['alice', 'carol'])
  for (const c of [alice, carol, eve, root]) c.close()
})

t.test('canMessage, mutes, bad recipients, and both writing at the same moment', async (t) => {
  const app = await build(t, { canMessage: (from, to) => !(from.sub === 'spammer' && to === 'alice') })
  const spammer = await connect(app, token({ sub: 'spammer' }))
  t.match(await spammer.request({ action: 'dm', to: 'alice', content: 'buy' }), { type: 'error', code: 'FORBIDDEN', message: /alice/ })
  t.match(await spammer.request({ action: 'dm', to: 'bob', content: 'hi' }), { type: 'ack' }, 'others are fine')
  t.match(await spammer.request({ action: 'dm', to: '', content: 'x' }), { code: 'BAD_REQUEST' })
  t.match(await spammer.request({ action: 'dm', to: 'a\u0000b', content: 'x' }), { code: 'BAD_REQUEST' })
  await app.chat.mute('spammer')
  t.match(await spammer.request({ action: 'dm', to: 'bob', content: 'x' }), { code: 'MUTED' })
  const a = await connect(app, token({ sub: 'ann' }))
  const b = await connect(app, token({ sub: 'ben' }))
  const [x, y] = await Promise.all([
    a.request({ action: 'dm', to: 'ben', content: 'from ann' }),
    b.request({ action: 'dm', to: 'ann', content: 'from ben' })
  ])
  t.same([x.type, y.type], ['ack', 'ack'], 'two users writing to each other at once both get through')
  t.same([x.seq, y.seq].sort(), [1, 2])
  for (const c of [spammer, a, b]) c.close()
})

t.test('a dm to oneself is refused and records nothing; one to a user who never connected waits for them', async (t) => {
  const app = await build(t)
  const alice = await connect(app, token({ sub: 'alice' }))
  t.match(await alice.request({ action: 'dm', to: 'alice', content: 'note to self' }), { type: 'error', code: 'BAD_REQUEST', message: /yourself/ })
  t.same(await app.chat.conversations('alice'), [], 'no conversation recorded')
  t.equal(await app.chat.participants(directRoom('alice', 'alice')), null)
  t.match(await alice.request({ action: 'dm', to: 'newcomer', content: 'welcome' }), { type: 'ack' })
  const newcomer = await connect(app, token({ sub: 'newcomer' }))
  t.same(await app.chat.conversations('newcomer'), [{ room: directRoom('alice', 'newcomer'), with: 'alice', seq: 1 }], 'found on its first connection')
  alice.close(); newcomer.close()
})

for (const backend of BACKENDS) {
  t.test(`new conversations per user and minute are capped across processes (${backend.name}); writing in one's own is not`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2, { maxNewConversationsPerMinute: 3, rateLimit: false })
    const tab1 = await connect(a, token({ sub: 'spammer' }))
    const tab2 = await connect(b, token({ sub: 'spammer' }))
    t.match(await tab1.request({ action: 'dm', to: 'u1', content: 'x' }), { type: 'ack' })
    t.match(await tab2.request({ action: 'dm', to: 'u2', content: 'x' }), { type: 'ack' })
    t.match(await tab1.request({ action: 'dm', to: 'u3', content: 'x' }), { type: 'ack' })
    for (const [tab, to] of [[tab2, 'u4'], [tab1, 'u5']] as const) {
      t.match(await tab.request({ action: 'dm', to, content: 'x' }), { type: 'error', code: 'RATE_LIMITED', message: /3 new conversations/ }, `the 4th new one, on either process (${to})`)
    }
    t.same((await a.chat.conversations('spammer')).map((c) => c.with).sort(), ['u1', 'u2', 'u3'], 'nothing recorded past the cap')
    t.equal(await b.chat.participants(directRoom('spammer', 'u4')), null)
    t.match(await tab2.request({ action: 'dm', to: 'u1', content: 'again' }), { type: 'ack' }, 'an existing conversation is not counted')
    const u1 = await connect(b, token({ sub: 'u1' }))
    t.match(await u1.request({ action: 'dm', to: 'spammer', content: 'reply' }), { type: 'ack' }, 'nor is a reply, for the recipient')
    const other = await connect(a, token({ sub: 'other' }))
    t.match(await other.request({ action: 'dm', to: 'u5', content: 'x' }), { type: 'ack' }, 'another user has a cap of its own')
    for (const c of [tab1, tab2, u1, other]) c.close()
  })
}

t.test('sendToUser: a notice to every connection of a user, kept in its server conversation', async (t) => {
  const app = await build(t)
  const bob1 = await connect(app, token({ sub: 'bob' }))
  const bob2 = await connect(app, token({ sub: 'bob' }))
  const sent = await app.chat.sendToUser('bob', 'your export is ready', { meta: { url: '/exports/1' } })
  t.match(sent, { seq: 1, room: ROOM })
  for (const c of [bob1, bob2]) {
    t.match(await c.next('message'), { room: sent.room, from: 'server', userId: 'server', to: 'bob', content: 'your export is ready', meta: { url: '/exports/1' } })
  }
  t.same(await app.chat.conversations('bob'), [{ room: sent.room, with: 'server', seq: 1 }])
  t.same(await app.chat.participants(sent.room), ['server', 'bob'], 'the server as "server"')
  t.match(await bob1.request({ action: 'message', room: sent.room, content: 'thanks' }), { code: 'FORBIDDEN' }, 'read-only for the user')
  await t.rejects(app.chat.sendToUser('', 'x'), { code: 'FST_CHAT_INVALID_RESTRICTION' })
  await t.rejects(app.chat.sendToUser('bob', ''), { code: 'FST_CHAT_INVALID_CONTENT' })
  bob1.close(); bob2.close()
})

for (const backend of BACKENDS.filter((b) => b.redis)) {
  t.test(`across processes (${backend.name}): a dm reaches the recipient and the sender's tabs wherever they are`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2)
    const alice = await connect(a, token({ sub: 'alice' }))
    const aliceTab = await connect(b, token({ sub: 'alice' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    const room = directRoom('alice', 'bob')
    t.match(await alice.request({ action: 'dm', to: 'bob', content: 'over there' }), { type: 'ack', seq: 1 })
    t.match(await bob.next('message'), { room, content: 'over there', to: 'bob' })
    t.match(await aliceTab.next('message'), { room, content: 'over there' })
    t.match(await bob.request({ action: 'dm', to: 'alice', content: 'back' }), { type: 'ack', seq: 2 })
    t.match(await alice.next((f) => f.type === 'message' && f.seq === 2), { content: 'back', to: 'alice' })
    t.same(await b.chat.conversations('alice'), [{ room, with: 'bob', seq: 2 }])
    const notice = await a.chat.sendToUser('bob', 'notice')
    t.match(await bob.next((f) => f.type === 'message' && f.room === notice.room), { from: 'server', content: 'notice' }, 'a server notice crosses processes')
    for (const c of [alice, aliceTab, bob]) c.close()
  })
}

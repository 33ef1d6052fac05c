// Presence in rooms is about people: a user with two tabs (on one process or two) is one
// userJoined when the first joins and one userLeft when the last leaves, with its name; `joined`
// counts users beside connections; the member listing lists users; `by: 'connection'` keeps the
// per-connection frames; the presence limit counts users. Batching is off where a barrier must show
// that nothing was said (presence-batch.test.ts tests batching).
import t from 'tap'
import { BACKENDS, processes } from './backends.js'
import { build, connect, token, withoutEpoch } from './helpers.js'

const auth = { authorization: `Bearer ${token({ sub: 'reader' })}` }

t.test('two tabs of one user: one userJoined, one userLeft after the second closes', async (t) => {
  const app = await build(t, { presence: { batch: 0 } })
  const bob = await connect(app, token({ sub: 'bob' }))
  const tab1 = await connect(app, token({ sub: 'ann', name: 'Ann' }))
  t.same(await bob.next('userJoined'), { type: 'userJoined', room: 'lobby', clientId: tab1.id, userId: 'ann', name: 'Ann', connections: 1 })
  const tab2 = await connect(app, token({ sub: 'ann', name: 'Ann' }), { defaultRoom: false })
  t.same(withoutEpoch(await tab2.next('joined')), { type: 'joined', room: 'lobby', members: 3, users: 2, seq: 0, lastRead: 0, unread: 0 }, 'members count connections, users people')
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'userJoined').length, 0, 'the second tab is no news')
  t.equal(tab1.queue.filter((f) => f.type === 'userJoined').length, 0, 'not even to the first tab')

  const page = (await app.inject({ url: '/rooms/lobby/members', headers: auth })).json()
  t.same(page.users.map((u: any) => [u.userId, u.name, u.connections]), [['bob', undefined, 1], ['ann', 'Ann', 2]], 'the listing counts each user once')
  t.equal(page.members.length, 3)
  t.match(page.members.find((m: any) => m.clientId === tab2.id), { userId: 'ann', name: 'Ann' })

  tab1.close()
  await tab1.closed
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'userLeft').length, 0, 'a tab closing while another stays is no news')
  tab2.send({ action: 'leave', room: 'lobby', ref: 'bye' })
  t.same(await tab2.next('left'), { type: 'left', room: 'lobby', members: 1, ref: 'bye' })
  t.same(await bob.next('userLeft'), { type: 'userLeft', room: 'lobby', clientId: tab2.id, userId: 'ann', name: 'Ann', connections: 0, reason: 'left' }, 'the last one leaving is')
  bob.close(); tab2.close()
})

t.test("by: 'connection' keeps one frame per connection", async (t) => {
  const app = await build(t, { presence: { by: 'connection' } })
  const bob = await connect(app, token({ sub: 'bob' }))
  const tab1 = await connect(app, token({ sub: 'ann', name: 'Ann' }))
  const tab2 = await connect(app, token({ sub: 'ann', name: 'Ann' }))
  t.same(await bob.next('userJoined'), { type: 'userJoined', room: 'lobby', clientId: tab1.id, userId: 'ann' })
  t.same(await bob.next('userJoined'), { type: 'userJoined', room: 'lobby', clientId: tab2.id, userId: 'ann' })
  tab1.close()
  t.same(await bob.next('userLeft'), { type: 'userLeft', room: 'lobby', clientId: tab1.id, userId: 'ann', reason: 'closed' })
  bob.close(); tab2.close()
})

t.test('the presence limit counts users, not tabs', async (t) => {
  const app = await build(t, { presence: { limit: 2, batch: 0 }, defaultRoom: false })
  const bob = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  await bob.request({ action: 'join', room: 'r' })
  const tabs = []
  for (let i = 0; i < 3; i++) {
    const tab = await connect(app, token({ sub: 'ann' }), { defaultRoom: false })
    await tab.request({ action: 'join', room: 'r' })
    tabs.push(tab)
  }
  t.match(await bob.next('userJoined'), { userId: 'ann' }, 'two users with four connections: within a limit of 2')
  const carol = await connect(app, token({ sub: 'carol' }), { defaultRoom: false })
  t.match(await carol.request({ action: 'join', room: 'r' }), { members: 5, users: 3 })
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'userJoined').length, 0, 'a third user is past it')
  for (const c of [bob, carol, ...tabs]) c.close()
})

t.test('bad presence options are refused, naming the option', async (t) => {
  await t.rejects(build(t, { presence: { by: 'tab' as any } }), { code: 'FST_CHAT_INVALID_OPTION', message: /presence\.by/ })
  await t.rejects(build(t, { presence: { limit: -1 } }), { code: 'FST_CHAT_INVALID_OPTION', message: /presence\.limit/ })
  await t.rejects(build(t, { presence: { every: 1 } as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /presence\.every/ })
})

for (const backend of BACKENDS.filter((b) => b.redis)) {
  t.test(`a user's tabs on two processes (${backend.name}): one userJoined, one userLeft`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2, { presence: { batch: 0 } })
    const bob = await connect(a, token({ sub: 'bob' }))
    const tab1 = await connect(a, token({ sub: 'ann', name: 'Ann' }))
    t.match(await bob.next('userJoined'), { userId: 'ann', name: 'Ann', connections: 1 })
    const tab2 = await connect(b, token({ sub: 'ann', name: 'Ann' }), { defaultRoom: false })
    t.match(await tab2.next('joined'), { members: 3, users: 2 })
    const listed = (await b.inject({ url: '/rooms/lobby/members', headers: auth })).json()
    t.same(listed.users.map((u: any) => [u.userId, u.name, u.connections]), [['bob', undefined, 1], ['ann', 'Ann', 2]], 'counted across processes')
    tab1.close()
    await tab1.closed
    const tab3 = await connect(b, token({ sub: 'ann', name: 'Ann' }))
    tab2.close()
    await tab2.closed
    await bob.barrier()
    t.same(bob.queue.filter((f) => f.type === 'userJoined' || f.type === 'userLeft'), [], 'tabs coming and going on either process are no news')
    tab3.close()
    t.match(await bob.next('userLeft'), { userId: 'ann', name: 'Ann', connections: 0, reason: 'closed' })
    bob.close()
  })
}

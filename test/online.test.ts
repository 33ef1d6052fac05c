// Who is online: GET /users/:userId/presence and app.chat.presence, `watch`/`unwatch` with a
// `presence` frame at once and on every change (first connection anywhere, last one gone, a
// killed process's users once its node times out), within 100 watched users, gated by
// canSeePresence; across processes on Redis and on a Redis Cluster.
import t from 'tap'
import { BACKENDS, processes } from './backends.js'
import { build, connect, token } from './helpers.js'
import { until } from './redis-helpers.js'

const auth = { authorization: `Bearer ${token({ sub: 'viewer' })}` }

t.test('online, connections, lastSeen: REST and app.chat', async (t) => {
  const app = await build(t)
  const never = (await app.inject({ url: '/users/ann/presence', headers: auth })).json()
  t.same(never, { userId: 'ann', online: false, connections: 0 }, 'never seen: no lastSeen')
  const tab1 = await connect(app, token({ sub: 'ann' }))
  const tab2 = await connect(app, token({ sub: 'ann' }))
  t.same((await app.inject({ url: '/users/ann/presence', headers: auth })).json(), { userId: 'ann', online: true, connections: 2 })
  tab1.close()
  await tab1.closed
  // The server records a close a moment after the client sees it.
  await until(async () => (await app.chat.presence('ann')).connections === 1, 5000, 'one connection left')
  t.match(await app.chat.presence('ann'), { online: true, connections: 1 })
  const before = Date.now()
  tab2.close()
  await tab2.closed
  await until(async () => !(await app.chat.presence('ann')).online, 5000, 'offline')
  const p = await app.chat.presence('ann') as any
  t.match(p, { userId: 'ann', online: false, connections: 0, lastSeen: Number })
  t.ok(p.lastSeen >= before && p.lastSeen <= Date.now(), 'lastSeen is when the last connection closed')
  t.equal((await app.inject({ url: '/users/ann/presence' })).statusCode, 401, 'a token is needed')
})

t.test('watch: presence at once, then on every change; two tabs are one user; unwatch', async (t) => {
  const app = await build(t)
  const viewer = await connect(app, token({ sub: 'viewer' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  const reply = await viewer.request({ action: 'watch', users: ['ann', 'bob'], ref: 'w1' })
  t.same(reply, { type: 'watching', users: ['ann', 'bob'], ref: 'w1' })
  t.same(viewer.queue.splice(0).filter((f) => f.type === 'presence'), [
    { type: 'presence', userId: 'ann', online: false },
    { type: 'presence', userId: 'bob', online: true }
  ], 'one frame per watched user at once, before the reply')
  const ann1 = await connect(app, token({ sub: 'ann' }))
  t.same(await viewer.next('presence'), { type: 'presence', userId: 'ann', online: true })
  const ann2 = await connect(app, token({ sub: 'ann' }))
  ann1.close()
  await ann1.closed
  await viewer.barrier()
  t.equal(viewer.queue.filter((f) => f.type === 'presence').length, 0, 'a second tab coming or the first going is no change')
  ann2.close()
  const off = await viewer.next('presence')
  t.match(off, { type: 'presence', userId: 'ann', online: false, lastSeen: Number })
  const still = await viewer.request({ action: 'unwatch', users: ['ann'] })
  t.same([still.type, still.users], ['watching', ['bob']], 'still watching bob')
  const ann3 = await connect(app, token({ sub: 'ann' }))
  bob.close()
  t.match(await viewer.next('presence'), { userId: 'bob', online: false })
  await viewer.barrier()
  t.notOk(viewer.queue.some((f) => f.type === 'presence' && f.userId === 'ann'), 'unwatched: nothing more about ann')
  viewer.close(); ann3.close()
})

t.test('at most 100 watched users per connection; bad requests; canSeePresence', async (t) => {
  const app = await build(t, { canSeePresence: (viewer, userId) => userId !== 'secret' || viewer.sub === 'boss' })
  const viewer = await connect(app, token({ sub: 'viewer' }))
  const many = Array.from({ length: 100 }, (_, i) => `u${i}`)
  t.match(await viewer.request({ action: 'watch', users: many }), { type: 'watching', users: { length: 100 } })
  t.match(await viewer.request({ action: 'watch', users: ['one-more'] }), { type: 'error', code: 'TOO_MANY_WATCHED' })
  t.match(await viewer.request({ action: 'watch', users: ['u1', 'u2'] }), { type: 'watching', users: { length: 100 } }, 'watching again is no more')
  t.match(await viewer.request({ action: 'watch', users: [] }), { type: 'error', code: 'BAD_REQUEST' })
  t.match(await viewer.request({ action: 'watch', users: [''] }), { type: 'error', code: 'BAD_REQUEST' })
  t.match(await viewer.request({ action: 'watch', users: Array(101).fill('x') }), { type: 'error', code: 'BAD_REQUEST' })
  await viewer.request({ action: 'unwatch', users: many })
  t.match(await viewer.request({ action: 'watch', users: ['ok', 'secret'] }), { type: 'error', code: 'FORBIDDEN', message: /secret/ })
  t.same((await viewer.request({ action: 'unwatch', users: ['ok'] })).users, [], 'all or nothing: ok was not watched either')
  const rest = await app.inject({ url: '/users/secret/presence', headers: auth })
  t.equal(rest.statusCode, 403)
  t.match(rest.json(), { code: 'FST_CHAT_PRESENCE_FORBIDDEN' })
  const boss = await connect(app, token({ sub: 'boss' }))
  t.match(await boss.request({ action: 'watch', users: ['secret'] }), { type: 'watching', users: ['secret'] })
  viewer.close(); boss.close()
})

for (const backend of BACKENDS) {
  t.test(`across processes (${backend.name}): presence of a user on another process, and of a killed one`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2)
    const viewer = await connect(a, token({ sub: 'viewer' }))
    await viewer.request({ action: 'watch', users: ['ann'] })
    t.same(await viewer.next('presence'), { type: 'presence', userId: 'ann', online: false })
    const ann = await connect(b, token({ sub: 'ann' }))
    t.same(await viewer.next('presence'), { type: 'presence', userId: 'ann', online: true }, 'online on the other process')
    t.match(await a.chat.presence('ann'), { online: true, connections: 1 })
    const ann2 = await connect(a, token({ sub: 'ann' }))
    t.match(await b.chat.presence('ann'), { online: true, connections: 2 }, 'connections counted everywhere')
    ann2.close()
    ann.close()
    t.match(await viewer.next('presence'), { userId: 'ann', online: false, lastSeen: Number }, 'offline once its last connection anywhere closed')
    t.match(await b.chat.presence('ann'), { online: false, connections: 0, lastSeen: Number })
    viewer.close()
  })
}

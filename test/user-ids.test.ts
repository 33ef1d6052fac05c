// One rule for a user id wherever one enters: a token's sub (upgrade, REST, refresh), a dm's `to`,
// watch's users, the REST path parameters, app.chat's arguments. At most 256 characters, or the
// router's maxParamLength when lower (so that every id the socket takes fits the REST routes);
// no control, bidirectional-control or invisible characters, no unpaired surrogate, not a
// reserved id. A refused id creates nothing.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminToken, build, connect, token } from './helpers.js'

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

/** Ids no entry takes, and why, at the default router's limit of 100. */
const BAD: Array<[string, string]> = [
  ['x'.repeat(101), 'over the limit'],
  ['admin\u202Egnp.exe', 'a right-to-left override'],
  ['ali\u2066ce', 'a bidirectional isolate'],
  ['bell\u0007', 'a control character'],
  ['tab\tbed', 'a tab'],
  ['zero\u200Bwidth', 'a zero-width space'],
  ['\uFEFFbom', 'a byte order mark'],
  ['half\uD800', 'an unpaired surrogate'],
  ['__proto__', 'reserved'],
  ['server', 'the server\'s own id']
]
/** Ids every entry takes. */
const GOOD = ['x'.repeat(100), 'José', 'محمد', 'user@example.com', 'auth0|64a1b2', 'a b', '😀 emoji']

async function upgrade (app: FastifyInstance, sub: string) {
  return await app.inject({
    url: '/chat',
    headers: { authorization: `Bearer ${token({ sub })}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
  })
}

t.test('the same ids are refused at every entry, and nothing is created for them', async (t) => {
  const app = await build(t)
  const alice = await connect(app, token({ sub: 'alice' }))
  for (const [id, why] of BAD) {
    const up = await upgrade(app, id)
    t.equal(up.statusCode, 401, `a token's sub: ${why}`)
    t.equal(up.json().code, 'FST_CHAT_TOKEN_BAD_SUB')
    t.equal((await app.inject({ url: '/rooms', headers: bearer(token({ sub: id })) })).statusCode, 401, `REST with that sub: ${why}`)
    t.match(await alice.request({ action: 'dm', to: id, content: 'hi' }), { type: 'error', code: 'BAD_REQUEST' }, `dm to: ${why}`)
    t.match(await alice.request({ action: 'watch', users: ['bob', id] }), { type: 'error', code: 'BAD_REQUEST' }, `watch: ${why}`)
    // An unpaired surrogate cannot be written in a URL at all.
    if (!/[\ud800-\udfff]/.test(id)) {
      const presence = await app.inject({ url: `/users/${encodeURIComponent(id)}/presence`, headers: bearer(token()) })
      t.ok([400, 414].includes(presence.statusCode), `GET /users/:userId/presence: ${why} (${presence.statusCode})`)
      const ban = await app.inject({ method: 'PUT', url: `/bans/${encodeURIComponent(id)}`, headers: bearer(adminToken()), payload: {} })
      t.ok([400, 414].includes(ban.statusCode), `PUT /bans/:userId: ${why} (${ban.statusCode})`)
    }
    await t.rejects(app.chat.presence(id), { code: 'FST_CHAT_INVALID_RESTRICTION', statusCode: 400 }, `app.chat.presence: ${why}`)
    await t.rejects(app.chat.ban(id), { code: 'FST_CHAT_INVALID_RESTRICTION', statusCode: 400 }, `app.chat.ban: ${why}`)
    await t.rejects(app.chat.sendToUser(id, 'x'), { code: 'FST_CHAT_INVALID_RESTRICTION', statusCode: 400 }, `app.chat.sendToUser: ${why}`)
    await t.rejects(app.chat.conversations(id), { code: 'FST_CHAT_INVALID_ARGUMENT' }, `app.chat.conversations: ${why}`)
  }
  t.same(await app.chat.conversations('alice'), [], 'no conversation was recorded for any of them')
  t.equal((await upgrade(app, '')).json().code, 'FST_CHAT_TOKEN_NO_SUB', 'an empty sub is no sub')

  for (const id of GOOD) {
    t.equal((await upgrade(app, id)).statusCode, 404, `a token's sub ${JSON.stringify(id)} passes the hook (inject cannot upgrade: 404 after it)`)
    t.match(await alice.request({ action: 'dm', to: id, content: 'hi' }), { type: 'ack' }, `dm to ${JSON.stringify(id)}`)
    const presence = await app.inject({ url: `/users/${encodeURIComponent(id)}/presence`, headers: bearer(token()) })
    t.same([presence.statusCode, presence.json().userId], [200, id], `presence of ${JSON.stringify(id)}`)
  }
  const ws = await connect(app, token({ sub: 'x'.repeat(100) }))
  t.match(await ws.request({ action: 'refresh', token: token({ sub: 'x'.repeat(101) }) }), { code: 'UNAUTHORIZED' }, 'a refresh to a sub that is no id')
  ws.close()
  alice.close()
})

t.test('the limit follows the router: 256 when maxParamLength allows it, the same everywhere', async (t) => {
  const app = await build(t, { server: { routerOptions: { maxParamLength: 1000 } } })
  const longest = 'y'.repeat(256)
  const alice = await connect(app, token({ sub: 'alice' }))
  const ws = await connect(app, token({ sub: longest }))
  t.match(await alice.request({ action: 'dm', to: longest, content: 'hi' }), { type: 'ack' })
  t.match(await ws.next((f) => f.type === 'message' && f.to === longest), { userId: 'alice' }, 'the longest id gets its message')
  t.match((await app.inject({ url: `/users/${longest}/presence`, headers: bearer(token()) })).json(), { userId: longest, online: true })
  t.equal((await app.inject({ method: 'PUT', url: `/mutes/${longest}`, headers: bearer(adminToken()), payload: {} })).statusCode, 200)
  const over = 'y'.repeat(257)
  t.equal((await upgrade(app, over)).statusCode, 401)
  t.match(await alice.request({ action: 'dm', to: over, content: 'hi' }), { code: 'BAD_REQUEST', message: /256/ })
  const presence = await app.inject({ url: `/users/${over}/presence`, headers: bearer(token()) })
  t.equal(presence.statusCode, 400, 'a path parameter over it: 400, not the router\'s 414')
  t.match(presence.json(), { code: 'FST_ERR_VALIDATION' })
  alice.close(); ws.close()
})

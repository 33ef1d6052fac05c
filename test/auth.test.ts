import t from 'tap'
import fastifyJwt from '@fastify/jwt'
import { createSigner } from 'fast-jwt'
import { build, connect, SECRET, token } from './helpers.js'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)

const bad: Record<string, string> = {
  expired: createSigner({ key: SECRET })({ sub: 'alice', exp: now() - 60 }),
  'wrong secret': createSigner({ key: 'another-secret-entirely-000000000000' })({ sub: 'alice' }),
  'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp: now() + 600 })}.`,
  'no sub': createSigner({ key: SECRET, expiresIn: 60_000 })({ name: 'nobody' }),
  'empty sub': createSigner({ key: SECRET, expiresIn: 60_000 })({ sub: '' }),
  'numeric sub': createSigner({ key: SECRET, expiresIn: 60_000 })({ sub: 42 }),
  malformed: 'not.a.jwt',
  garbage: 'x'
}

t.test('every bad token is a 401 on the socket route, before any upgrade', async (t) => {
  const app = await build(t)
  await t.rejects(app.injectWS('/chat'), /Unexpected server response: 401/, 'no token')
  for (const [name, jwt] of Object.entries(bad)) {
    await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${jwt}` } }), /401/, `${name} (header)`)
    await t.rejects(app.injectWS(`/chat?token=${encodeURIComponent(jwt)}`), /401/, `${name} (query)`)
  }
  t.equal((await app.chat.stats()).connections, 0, 'no socket was ever opened')
})

t.test('every bad token is a 401 with Fastify\'s error body on REST', async (t) => {
  const app = await build(t)
  const none = await app.inject({ url: '/rooms' })
  t.equal(none.statusCode, 401)
  t.match(none.json(), { statusCode: 401, code: 'FST_CHAT_NO_TOKEN', error: 'Unauthorized', message: /token/ })
  for (const [name, jwt] of Object.entries(bad)) {
    const res = await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${jwt}` } })
    t.equal(res.statusCode, 401, name)
    t.match(res.json(), { statusCode: 401, error: 'Unauthorized', code: String }, `${name}: error body`)
  }
  const noSub = await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${bad['no sub']}` } })
  t.equal(noSub.json().code, 'FST_CHAT_TOKEN_NO_SUB')
  const basic = await app.inject({ url: '/rooms', headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } })
  t.equal(basic.statusCode, 401, 'another scheme is no token')
  const plainGet = await app.inject({ url: '/chat' })
  t.equal(plainGet.statusCode, 401, 'the socket route over plain HTTP is guarded too')
})

t.test('the token may come from the query string; the header wins when both are sent', async (t) => {
  const app = await build(t)
  let ws = await app.injectWS(`/chat?token=${token({ sub: 'carol', name: 'Carol' })}`)
  t.ok(ws, 'a query token opens a socket')
  ws.terminate()
  const c = await connect(app, token({ sub: 'dave' }), { path: `/chat?token=${bad.expired}` })
  t.equal(c.welcome!.userId, 'dave', 'the header token was used')
  c.close()
  await t.rejects(
    app.injectWS(`/chat?token=${token()}`, { headers: { authorization: `Bearer ${bad['wrong secret']}` } }),
    /401/, 'a bad header token is not rescued by a good query token')
  const res = await app.inject({ url: `/rooms?token=${token()}` })
  t.equal(res.statusCode, 200, 'REST takes the query token too')
  ws = await app.injectWS('/chat?token=a&token=b').catch((e: Error) => e as never)
  t.match(String(ws), /401/, 'a repeated token parameter is no token')
})

t.test('the plugin guards its own routes and nothing of the host', async (t) => {
  const app = await build(t, {
    before: (app) => { app.get('/health', async () => ({ ok: true })) },
    after: (app) => { app.get('/after', async () => ({ after: true })) }
  })
  t.equal((await app.inject({ url: '/health' })).statusCode, 200)
  t.equal((await app.inject({ url: '/after' })).statusCode, 200)
  t.equal((await app.inject({ url: '/rooms' })).statusCode, 401)
  t.equal(app.hasDecorator('jwt'), false, 'our @fastify/jwt stays in our context')
})

t.test("reuses the host's @fastify/jwt when it has one", async (t) => {
  const app = await build(t, {
    noJwt: true,
    before: async (app) => { await app.register(fastifyJwt, { secret: SECRET }) }
  })
  const a = await connect(app, token({ sub: 'alice' }))
  t.equal(a.welcome!.userId, 'alice', 'Bearer header')
  a.close()
  const ws = await app.injectWS(`/chat?token=${token({ sub: 'bob' })}`)
  t.ok(ws, 'query token')
  ws.terminate()
  await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${bad['alg none']}` } }), /401/)
  await t.rejects(app.injectWS(`/chat?token=${bad['wrong secret']}`), /401/)
  t.equal((await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${bad['no sub']}` } })).statusCode, 401)
})

t.test('name is the display name; the claims reach isAdmin', async (t) => {
  const seen: unknown[] = []
  const app = await build(t, {
    isAdmin: (user) => { seen.push(user); return user.sub === 'boss' }
  })
  const res = await app.inject({
    method: 'POST', url: '/rooms/lobby/messages', headers: { authorization: `Bearer ${token({ sub: 'boss', name: 'The Boss', team: 'x' })}` }, payload: { content: 'hi' }
  })
  t.equal(res.statusCode, 202)
  t.match(seen[0], { sub: 'boss', name: 'The Boss', team: 'x' })
})

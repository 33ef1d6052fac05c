import t from 'tap'
import fastifyJwt from '@fastify/jwt'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { build, connect, SECRET, token } from './helpers.js'

const noExp = createSigner({ key: SECRET })({ sub: 'alice' })
const hs384 = createSigner({ key: SECRET, algorithm: 'HS384', expiresIn: 60_000 })({ sub: 'alice' })
const withIss = (iss: string, aud: string) => createSigner({ key: SECRET, expiresIn: 60_000, iss, aud })({ sub: 'alice' })
const bearer = (jwt: string) => ({ headers: { authorization: `Bearer ${jwt}` } })

t.test('exp is required and algorithms are pinned, by default', async (t) => {
  const app = await build(t)
  await t.rejects(app.injectWS('/chat', bearer(noExp)), /401/, 'no exp')
  await t.rejects(app.injectWS('/chat', bearer(hs384)), /401/, 'HS384 is not HS256')
  const ws = await app.injectWS('/chat', bearer(token()))
  t.ok(ws, 'a good token still works')
  ws.terminate()
})

t.test('the host can set its own rules: algorithms, exp optional, iss and aud', async (t) => {
  const app = await build(t, { verify: { algorithms: ['HS384'], requireExp: false, allowedIss: 'https://id.example', allowedAud: 'chat' } })
  await t.rejects(app.injectWS('/chat', bearer(token())), /401/, 'HS256 is no longer accepted')
  const good = createSigner({ key: SECRET, algorithm: 'HS384', iss: 'https://id.example', aud: 'chat' })({ sub: 'alice' })
  const ws = await app.injectWS('/chat', bearer(good))
  t.ok(ws, 'no exp, HS384, right iss and aud')
  ws.terminate()
  const wrongIss = createSigner({ key: SECRET, algorithm: 'HS384', iss: 'https://evil.example', aud: 'chat' })({ sub: 'alice' })
  await t.rejects(app.injectWS('/chat', bearer(wrongIss)), /401/, 'wrong iss')
  await t.rejects(app.injectWS('/chat', bearer(withIss('https://id.example', 'other'))), /401/, 'wrong aud (and alg)')
})

t.test("the rules apply with the host's own @fastify/jwt too", async (t) => {
  const app = await build(t, { noJwt: true, before: async (app) => { await app.register(fastifyJwt, { secret: SECRET }) } })
  await t.rejects(app.injectWS('/chat', bearer(noExp)), /401/, 'no exp')
  await t.rejects(app.injectWS('/chat', bearer(hs384)), /401/, 'HS384')
  await t.rejects(app.injectWS(`/chat?token=${noExp}`), /401/, 'no exp, in the query')
  const c = await connect(app, token())
  c.close()
})

t.test('the token may travel as a bearer.<jwt> subprotocol beside chat.v1', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, ['chat.v1', `bearer.${token({ sub: 'browser' })}`])
  const welcome = await new Promise<any>((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())))
    ws.once('error', reject)
  })
  t.equal(welcome.userId, 'browser')
  t.equal(ws.protocol, 'chat.v1', 'the server answers chat.v1, never the bearer entry')
  ws.terminate()

  const lone = await app.inject({ url: '/chat', headers: { 'sec-websocket-protocol': `bearer.${token()}` } })
  t.equal(lone.statusCode, 400, 'bearer.<jwt> without chat.v1')
  t.equal(lone.json().code, 'FST_CHAT_BAD_SUBPROTOCOL')
  // header first, then subprotocol, then query
  const c = await connect(app, token({ sub: 'from-header' }), { headers: { 'sec-websocket-protocol': `chat.v1, bearer.${token({ sub: 'from-protocol' })}` }, path: `/chat?token=${token({ sub: 'from-query' })}` })
  t.equal(c.welcome!.userId, 'from-header')
  c.close()
  const ws2 = await app.injectWS(`/chat?token=${token({ sub: 'from-query' })}`, { headers: { 'sec-websocket-protocol': `chat.v1, bearer.${token({ sub: 'from-protocol' })}` } }, {
    onInit: (w) => w.once('message', (d) => t.equal(JSON.parse(d.toString()).userId, 'from-protocol', 'subprotocol before query'))
  })
  await new Promise((resolve) => ws2.once('message', resolve))
  ws2.terminate()
})

t.test('allowedOrigins: any other Origin is a 403 before the upgrade', async (t) => {
  const app = await build(t, { allowedOrigins: ['https://app.example'] })
  const ok = await app.injectWS('/chat', { headers: { authorization: `Bearer ${token()}`, origin: 'https://app.example' } })
  ok.terminate()
  await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${token()}`, origin: 'https://evil.example' } }), /403/)
  const noOrigin = await app.injectWS('/chat', { headers: { authorization: `Bearer ${token()}` } })
  t.ok(noOrigin, 'no Origin: not a browser, allowed')
  noOrigin.terminate()
  t.equal((await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${token()}`, origin: 'https://evil.example' } })).statusCode, 200, 'REST is CORS business, not ours')
})

t.test('a configured issuer or audience makes its claim required (own and host @fastify/jwt, upgrade and refresh)', async (t) => {
  const rules = { allowedIss: 'https://id.example', allowedAud: 'chat' }
  const signed = (claims: Record<string, unknown>) => createSigner({ key: SECRET, expiresIn: 60_000 })({ sub: 'alice', ...claims })
  const shapes: Array<[string, string]> = [
    ['no iss', signed({ aud: 'chat' })],
    ['no aud', signed({ iss: 'https://id.example' })],
    ['neither', signed({})]
  ]
  const good = signed({ iss: 'https://id.example', aud: 'chat' })
  for (const host of [false, true]) {
    const app = await build(t, host
      ? { noJwt: true, verify: rules, before: async (app) => { await app.register(fastifyJwt, { secret: SECRET }) } }
      : { verify: rules })
    const who = host ? "host's" : 'own'
    for (const [shape, jwt] of shapes) {
      await t.rejects(app.injectWS('/chat', bearer(jwt)), /401/, `${who} @fastify/jwt: ${shape} is refused at the upgrade`)
      const rest = await app.inject({ url: '/rooms', ...bearer(jwt) })
      t.equal(rest.statusCode, 401, `${who} @fastify/jwt: ${shape} is refused over REST`)
    }
    const c = await connect(app, good)
    for (const [shape, jwt] of shapes) {
      const reply = await c.request({ action: 'refresh', token: jwt })
      t.match(reply, { type: 'error', code: 'UNAUTHORIZED' }, `${who} @fastify/jwt: ${shape} is refused as a refresh`)
    }
    t.match(await c.request({ action: 'refresh', token: good }), { type: 'refreshed' }, `${who} @fastify/jwt: both claims right is accepted`)
    c.close()
  }
})

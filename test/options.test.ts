import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import chatPlugin, { type ChatPluginOptions } from '../lib/index.js'
import { build, connect, SECRET, token, withoutEpoch } from './helpers.js'

const jwt = { secret: SECRET }

t.test('a bad option fails register with a coded error naming it', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['jwt', undefined],
    ['jwt', 'secret'],
    ['jwt.secret', {}],
    ['path', 'chat'],
    ['path', '/chat/:id'],
    ['roomsPrefix', 5],
    ['defaultRoom', 'has space'],
    ['defaultRoom', ''],
    ['defaultRoom', true],
    ['maxPayload', -1],
    ['maxPayload', 1.5],
    ['maxPayload', '65536'],
    ['maxMessageLength', 0],
    ['maxRoomsPerConnection', Infinity],
    ['rateLimit', 'fast'],
    ['rateLimit.perSecond', 0],
    ['rateLimit.burst', 0.5],
    ['rateLimit.maxViolations', -1],
    ['rateLimit.window', 10],
    ['heartbeatInterval', -5],
    ['heartbeatInterval', 2 ** 31],
    ['maxBufferedAmount', 10],
    ['presence', 0],
    ['presence', 'small'],
    ['history', 'all'],
    ['verify.algorithms', ['none']],
    ['verify.requireExp', 'no'],
    ['verify.ttl', 1],
    ['allowedOrigins', ['app.example']],
    ['history.size', 0],
    ['history.ttl', 10],
    ['history.keep', 1],
    ['isAdmin', true],
    ['adapter', {}],
    ['prefix', 'api'],
    ['openapi', 'bearer'],
    ['openapi.securityScheme', 'has spaces'],
    ['openapi.scheme', 'x'],
    ['maxPayLoad', 1000]
  ]
  for (const [name, value] of cases) {
    const app = Fastify()
    const top = name.split('.')[0]
    let options: Record<string, unknown>
    if (name === 'jwt') options = { jwt: value }
    else if (name.startsWith('jwt.')) options = { jwt: value }
    else if (name.startsWith('rateLimit.')) options = { jwt, rateLimit: { [name.split('.')[1]]: value } }
    else if (name.startsWith('history.')) options = { jwt, history: { [name.split('.')[1]]: value } }
    else if (name.startsWith('verify.')) options = { jwt, verify: { [name.split('.')[1]]: value } }
    else if (name.startsWith('openapi.')) options = { jwt, openapi: { [name.split('.')[1]]: value } }
    else options = { jwt, [top]: value }
    const err = await app.register(chatPlugin, options as ChatPluginOptions).ready().then(() => null, (e: Error) => e)
    t.match(err, { code: 'FST_CHAT_INVALID_OPTION', message: new RegExp(`"${name.replace('.', '\\.')}"`) }, `${name} = ${String(value)}`)
    await app.close()
  }
})

t.test('jwt may be left out when the host has @fastify/jwt, and must be then', async (t) => {
  const app = Fastify()
  await app.register(import('@fastify/jwt'), { secret: SECRET })
  const err = await app.register(chatPlugin, { jwt }).ready().then(() => null, (e: Error) => e)
  t.match(err, { code: 'FST_CHAT_INVALID_OPTION', message: /"jwt".*already registered/ })
  await app.close()
})

t.test('custom path and roomsPrefix', async (t) => {
  const app = await build(t, { path: '/ws/v1', roomsPrefix: '/chat-rooms' })
  const a = await connect(app, token(), { path: '/ws/v1' })
  const res = await app.inject({ url: '/chat-rooms/lobby', headers: { authorization: `Bearer ${token()}` } })
  t.same(res.json(), { name: 'lobby', members: 1 })
  t.equal((await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${token()}` } })).statusCode, 404)
  await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${token()}` } }), /404/)
  a.close()
})

t.test('registered under a prefix, both the socket and REST routes move', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  app.get('/health', async () => ({ ok: true }))
  await app.register(chatPlugin, { jwt, prefix: '/api', heartbeatInterval: 0 })
  await app.ready()
  t.ok(app.chat, 'app.chat is on the host instance')
  const a = await connect(app, token(), { path: '/api/chat' })
  const res = await app.inject({ url: '/api/rooms', headers: { authorization: `Bearer ${token()}` } })
  t.same(res.json(), { rooms: [{ name: 'lobby', members: 1 }] })
  t.equal((await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${token()}` } })).statusCode, 404)
  t.equal((await app.inject({ url: '/health' })).statusCode, 200)
  a.close()
})

t.test('registered inside an encapsulated host plugin with a prefix', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  let inner: FastifyInstance | undefined
  await app.register(async (v1) => {
    await v1.register(chatPlugin, { jwt, heartbeatInterval: 0 })
    v1.get('/count', async () => (await v1.chat.stats()).connections)
    inner = v1
  }, { prefix: '/v1' })
  await app.ready()
  t.equal(app.hasDecorator('chat'), false, 'app.chat stays in the context that registered it')
  // injectWS lives where @fastify/websocket was registered: the same context.
  const a = await connect(inner!, token(), { path: '/v1/chat' })
  t.equal((await app.inject({ url: '/v1/count' })).body, '1')
  a.close()
})

t.test("reuses the host's @fastify/websocket", async (t) => {
  const app = await build(t, {
    before: async (app) => { await app.register(fastifyWebsocket, { options: { maxPayload: 2048 } }) }
  })
  const a = await connect(app)
  a.send({ action: 'message', room: 'lobby', content: 'x'.repeat(3000) })
  t.equal((await a.closed).code, 1009, "the host's maxPayload applies")
})

t.test('options are resolved once; the registry is typed on the instance', async (t) => {
  const app = await build(t, { defaultRoom: 'welcome', maxRoomsPerConnection: 1 })
  const a = await connect(app, token(), { defaultRoom: false })
  t.same(withoutEpoch(await a.next('joined')), { type: 'joined', room: 'welcome', members: 1, users: 1, seq: 0, lastRead: 0, unread: 0 })
  t.match(await a.request({ action: 'join', room: 'other' }), { code: 'TOO_MANY_ROOMS' })
  a.close()
})

import t from 'tap'
import fastifySwagger from '@fastify/swagger'
import { build, token } from './helpers.js'

t.test('the REST endpoints, with their schemas, show up in @fastify/swagger', async (t) => {
  const app = await build(t, {
    before: async (app) => { await app.register(fastifySwagger, { openapi: { info: { title: 'host', version: '1.0.0' } } }) }
  })
  const doc = app.swagger() as any
  const paths = doc.paths
  const expected: Array<[string, string, number]> = [
    ['/rooms', 'get', 200],
    ['/rooms/{room}', 'get', 200],
    ['/rooms/{room}/members', 'get', 200],
    ['/rooms/{room}/messages', 'get', 200],
    ['/rooms/{room}/members/{clientId}', 'put', 204],
    ['/rooms/{room}/members/{clientId}', 'delete', 204],
    ['/rooms/{room}/messages', 'post', 202],
    ['/chat/tickets', 'post', 200]
  ]
  for (const [path, method, status] of expected) {
    const op = paths[path]?.[method]
    t.ok(op, `${method.toUpperCase()} ${path} is documented`)
    t.ok(op?.summary, `${method.toUpperCase()} ${path} has a summary`)
    t.ok(op?.responses?.[status], `${method.toUpperCase()} ${path} documents its ${status}`)
  }
  const room = paths['/rooms/{room}'].get.parameters.find((p: any) => p.name === 'room')
  t.match(room.schema, { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' }, 'the room name pattern')
  t.match(paths['/rooms/{room}/messages'].post.requestBody.content['application/json'].schema, { properties: { content: { type: 'string', maxLength: 4000 } } })
  t.notOk(paths['/chat']?.get, 'the socket route is hidden')
  t.notOk(paths['/rooms/'], 'the room list is /rooms, as documented (its trailing-slash twin is hidden)')
  // The query token is the socket's (browsers cannot set headers there); REST calls send the header.
  for (const [path, methods] of Object.entries<any>(paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      t.notOk((op.parameters ?? []).some((p: any) => p.name === 'token'), `${method.toUpperCase()} ${path} offers no token parameter`)
    }
  }
  const viaSlash = await app.inject({ url: '/rooms/', headers: { authorization: `Bearer ${token()}` } })
  t.equal(viaSlash.statusCode, 200, '/rooms/ still answers')
  const viaQuery = await app.inject({ url: `/rooms/lobby/messages?token=${token()}&limit=5` })
  t.equal(viaQuery.statusCode, 200, 'a REST call with ?token= still works (undocumented), and its other parameters are still checked')
  t.equal((await app.inject({ url: `/rooms/lobby/messages?token=${token()}&limit=0` })).statusCode, 400)
})

t.test('openapi.securityScheme: every chat route declares the host\'s bearer scheme', async (t) => {
  const app = await build(t, {
    openapi: { securityScheme: 'bearerAuth' },
    before: async (app) => {
      await app.register(fastifySwagger, {
        openapi: {
          info: { title: 'host', version: '1.0.0' },
          components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
        }
      })
    }
  })
  const paths = (app.swagger() as any).paths
  let routes = 0
  for (const [path, methods] of Object.entries<any>(paths)) {
    if (!path.startsWith('/rooms') && !path.startsWith('/chat')) continue
    for (const [method, op] of Object.entries<any>(methods)) {
      routes++
      t.same(op.security, [{ bearerAuth: [] }], `${method.toUpperCase()} ${path}`)
    }
  }
  t.ok(routes >= 8, `${routes} chat routes`)
})

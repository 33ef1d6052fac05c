import t from 'tap'
import WebSocket from 'ws'
import { chatLogSerializers } from '../lib/index.js'
import { adminToken, build, Client, token } from './helpers.js'

t.test('a whole session logged at trace level never shows a token', async (t) => {
  const lines: string[] = []
  const app = await build(t, {
    heartbeatInterval: 0,
    server: { logger: { level: 'trace', serializers: chatLogSerializers, stream: { write: (l: string) => { lines.push(l) } } } }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const used: string[] = []
  const jwt = (claims: Record<string, unknown>) => { const j = token(claims); used.push(j); return j }
  const open = async (url: string, opts?: WebSocket.ClientOptions) => {
    const c = new Client(new WebSocket(url, opts))
    c.welcome = await c.next('welcome')
    return c
  }
  const viaQuery = await open(`ws://127.0.0.1:${port}/chat?token=${jwt({ sub: 'q' })}`)
  const viaHeader = await open(`ws://127.0.0.1:${port}/chat`, { headers: { authorization: `Bearer ${jwt({ sub: 'h' })}` } })
  const viaProtocol = await open(`ws://127.0.0.1:${port}/chat`, { protocols: ['chat.v1', `bearer.${jwt({ sub: 'p' })}`] } as WebSocket.ClientOptions)
  viaQuery.send({ action: 'message', room: 'lobby', content: 'hello' })
  await viaHeader.next('message')
  // A ticket, minted and used
  const minted = await fetch(`http://127.0.0.1:${port}/chat/tickets`, { method: 'POST', headers: { authorization: `Bearer ${jwt({ sub: 't' })}` } })
  const { ticket } = await minted.json() as { ticket: string }
  used.push(ticket)
  const viaTicket = await open(`ws://127.0.0.1:${port}/chat?ticket=${ticket}`)
  // A refresh, good and bad
  t.match(await viaHeader.request({ action: 'refresh', token: jwt({ sub: 'h' }) }), { type: 'refreshed' })
  t.match(await viaHeader.request({ action: 'refresh', token: jwt({ sub: 'someone-else' }) }), { type: 'error', code: 'UNAUTHORIZED' })
  // Refused attempts: a forged token, an expired one, a malformed one
  for (const bad of [`${jwt({ sub: 'x' })}tampered`, 'not.a.jwt', jwt({ sub: 'y' }).slice(0, -5)]) {
    used.push(bad)
    const refused = new WebSocket(`ws://127.0.0.1:${port}/chat?token=${bad}`)
    await new Promise((resolve) => { refused.once('unexpected-response', (_req, res) => { res.resume(); resolve(undefined) }); refused.once('error', resolve) })
  }
  const admin = adminToken()
  used.push(admin)
  await fetch(`http://127.0.0.1:${port}/rooms/lobby/messages?token=${admin}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'from REST' }) })
  for (const c of [viaQuery, viaHeader, viaProtocol, viaTicket]) { c.ws.close(); await c.closed }
  await app.close()

  const all = lines.join('\n')
  t.ok(lines.length > 20, `a full session was logged (${lines.length} lines)`)
  t.match(all, /incoming request/, 'requests are logged')
  t.match(all, /"url":"\/chat"/, 'with their path')
  for (const secret of used) {
    // The whole token, or its signature alone (a leak of a part is a leak).
    const signature = secret.split('.')[2] ?? ''
    const leak = lines.find((l) => l.includes(secret) || (signature.length > 20 && l.includes(signature)))
    t.equal(leak, undefined, `token not in the logs (${secret.slice(0, 12)}...)`)
  }
})

t.test('without the serializer, the query token would be in the request line (why hosts need it)', async (t) => {
  const lines: string[] = []
  const app = await build(t, { server: { logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } } })
  const jwt = token({ sub: 'leaky' })
  await app.inject({ url: `/rooms?token=${jwt}` })
  t.ok(lines.some((l) => l.includes(jwt)), "Fastify's default req serializer logs the query string")
})

t.test('chatLogSerializers: a client error is one line without a stack; a server fault keeps it', async (t) => {
  const lines: string[] = []
  const app = await build(t, {
    server: { logger: { level: 'info', serializers: chatLogSerializers, stream: { write: (l: string) => { lines.push(l) } } } },
    after: (app) => { app.get('/boom', async () => { throw new Error('a bug') }) }
  })
  t.equal((await app.inject({ url: '/rooms' })).statusCode, 401)
  t.equal((await app.inject({ url: '/boom' })).statusCode, 500)
  const logged = lines.map((l) => JSON.parse(l))
  const unauthorized = logged.find((l) => l.err?.statusCode === 401)
  t.match(unauthorized, { err: { type: 'FastifyError', code: 'FST_CHAT_NO_TOKEN', message: /No token/ } }, 'the 401 is logged')
  t.notOk('stack' in unauthorized.err, 'without a stack trace')
  t.ok(lines.every((l) => l.trimEnd().split('\n').length === 1), 'one line each')
  const fault = logged.find((l) => l.err?.message === 'a bug')
  t.match(fault.err.stack, /Error: a bug\n\s+at /, 'a server fault keeps its stack')
})

import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import t from 'tap'
import WebSocket from 'ws'
import { build, Client, token } from './helpers.js'

async function listen (t: Parameters<typeof build>[0], options: Parameters<typeof build>[1] = {}) {
  const app = await build(t, options)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, url: `ws://127.0.0.1:${port}` }
}

async function open (url: string, opts?: WebSocket.ClientOptions): Promise<Client> {
  const ws = new WebSocket(url, opts)
  const client = new Client(ws)
  client.welcome = await client.next('welcome')
  return client
}

t.test('over a real port: auth before upgrade, chat, and 1001 on close', async (t) => {
  const { app, url } = await listen(t)
  const refused = new WebSocket(`${url}/chat?token=not-a-jwt`)
  const [, res] = await once(refused, 'unexpected-response') as [unknown, IncomingMessage]
  t.equal(res.statusCode, 401, 'a bad token is answered 401, no upgrade')
  res.resume()

  const a = await open(`${url}/chat?token=${token({ sub: 'alice' })}`)
  const b = await open(`${url}/chat`, { headers: { authorization: `Bearer ${token({ sub: 'bob' })}` } })
  await a.next('joined'); await b.next('joined')
  t.match(await a.next('userJoined'), { userId: 'bob' })
  a.send({ action: 'message', room: 'lobby', content: 'over tcp', ref: 'tcp' })
  t.match(await a.next('ack'), { ref: 'tcp' })
  t.match(await b.next('message'), { content: 'over tcp', userId: 'alice', from: a.id })

  const rest = await fetch(`${url.replace('ws', 'http')}/rooms/lobby/members`, { headers: { authorization: `Bearer ${token()}` } })
  t.same((await rest.json() as any).members.map((m: any) => m.userId), ['alice', 'bob'])

  await app.close()
  t.same(await a.closed, { code: 1001, reason: 'server shutting down' })
  t.same(await b.closed, { code: 1001, reason: 'server shutting down' })
})

t.test('over a real port: 1009 for a big frame; a silent peer is cut by the heartbeat', async (t) => {
  const { app, url } = await listen(t, { maxPayload: 1024, heartbeatInterval: 50 })
  const a = await open(`${url}/chat?token=${token({ sub: 'alice' })}`)
  const big = await open(`${url}/chat?token=${token({ sub: 'big' })}`)
  const silent = await open(`${url}/chat?token=${token({ sub: 'silent' })}`, { autoPong: false })
  big.send({ action: 'message', room: 'lobby', content: 'z'.repeat(5000) })
  t.equal((await big.closed).code, 1009)
  const timeout = await a.next((f) => f.type === 'userLeft' && f.userId === 'silent', 10_000)
  t.equal(timeout.reason, 'timeout')
  t.equal((await silent.closed).code, 1006)
  t.same((await app.chat.members('lobby')).map((m) => m.userId), ['alice'], 'a, which answers pings, stays')
  a.ws.close()
  await a.closed
})

import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
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

/** What the server hands to the kernel for each socket upgraded to `path`: one entry per write. */
function kernelWrites (app: Awaited<ReturnType<typeof build>>, path: string): string[][] {
  const writes: string[][] = []
  app.server.prependListener('upgrade', (req: IncomingMessage, socket: Socket) => {
    if (req.url?.startsWith(path) !== true) return
    const text = (chunk: unknown): string => Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk)
    const s = socket as unknown as { _write: Function, _writev: Function }
    const write = s._write.bind(socket)
    const writev = s._writev.bind(socket)
    s._write = (chunk: unknown, encoding: unknown, cb: unknown) => { writes.push([text(chunk)]); return write(chunk, encoding, cb) }
    s._writev = (chunks: Array<{ chunk: unknown }>, cb: unknown) => { writes.push([chunks.map((c) => text(c.chunk)).join('')]); return writev(chunks, cb) }
  })
  return writes
}

t.test('over a real port: the 101 response leaves with the welcome, in one write; not for the host\'s own routes', async (t) => {
  const { app, url } = await listen(t, {
    after: async (app) => {
      // A host's own WebSocket route beside the chat, and a host hook that refuses some upgrades
      // after the chat's auth hook has let them through.
      app.get('/other', { websocket: true }, (socket) => { socket.send('hello from the host') })
      app.addHook('preHandler', async (request, reply) => {
        if (request.headers['x-deny'] !== undefined) await reply.code(403).send({ denied: true })
      })
    }
  })
  const chat = kernelWrites(app, '/chat')
  const other = kernelWrites(app, '/other')

  const a = await open(`${url}/chat?token=${token({ sub: 'alice' })}`)
  t.ok(chat.length >= 1)
  t.match(chat[0][0], /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'the first write is the 101 response')
  t.ok(chat[0][0].includes('"type":"welcome"') && chat[0][0].includes(a.id), 'and carries the welcome with it')
  // The default room's join is answered in the same turn (memory adapter): in that write too.
  t.ok(chat[0][0].includes('"type":"joined"'), 'and the default room\'s joined')
  t.match(await a.next('joined'), { room: 'lobby' }, 'which the client reads as usual')
  a.send({ action: 'message', room: 'lobby', content: 'after the handshake', ref: 'r1' })
  t.match(await a.next('ack'), { ref: 'r1' })

  const host = new WebSocket(`${url}/other`)
  const [data] = await once(host, 'message') as [Buffer]
  t.equal(data.toString(), 'hello from the host')
  t.match(other[0][0], /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n$/, 'the host\'s route writes its 101 alone, at once: not held')
  host.close()

  const denied = new WebSocket(`${url}/chat?token=${token({ sub: 'carol' })}`, { headers: { 'x-deny': '1' } })
  const [, res] = await once(denied, 'unexpected-response') as [unknown, IncomingMessage]
  t.equal(res.statusCode, 403, 'an upgrade the host refuses after the chat\'s auth still gets its answer')
  res.resume()
  a.ws.close()
  await a.closed
})

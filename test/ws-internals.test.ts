// What lib/transport/ws-internals.ts relies on in ws and @fastify/websocket's private parts, each
// by name: if an upgrade of either moves one, the test that names it fails (and the plugin falls
// back to the slower public path rather than crashing).
import { Socket } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import { bufferedAmount, rawTransport, releaseUpgrade } from '../lib/transport/ws-internals.js'

async function serverSocket (t: any, inject: boolean): Promise<{ socket: WebSocket, client: WebSocket }> {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyWebsocket)
  let resolveSocket!: (ws: WebSocket) => void
  const got = new Promise<WebSocket>((resolve) => { resolveSocket = resolve })
  app.get('/ws', { websocket: true }, (socket) => { resolveSocket(socket as unknown as WebSocket) })
  let client: WebSocket
  if (inject) {
    await app.ready()
    client = await app.injectWS('/ws') as unknown as WebSocket
  } else {
    await app.listen({ port: 0, host: '127.0.0.1' })
    client = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`)
    client.on('error', () => {})
    await new Promise((resolve) => client.once('open', resolve))
  }
  const socket = await got
  t.after(() => client.terminate())
  return { socket, client }
}

t.test('ws keeps its transport in socket._socket (a net.Socket over TCP)', async (t) => {
  const { socket } = await serverSocket(t, false)
  const transport = (socket as any)._socket
  t.ok(transport instanceof Socket, '_socket is the net.Socket')
  t.equal(rawTransport(socket), transport, 'rawTransport finds it')
  t.equal(bufferedAmount(socket, transport), transport.writableLength)
})

t.test("Node's upgraded socket still has the upgrade's response in _httpMessage, with detachSocket", async (t) => {
  const { socket } = await serverSocket(t, false)
  const transport = (socket as any)._socket
  const response = transport._httpMessage
  t.ok(response !== undefined && response !== null, '_httpMessage is attached after the upgrade')
  t.equal(typeof response.detachSocket, 'function', 'with detachSocket')
  releaseUpgrade(socket, transport, () => {})
  t.notOk(transport._httpMessage, 'released')
})

t.test("@fastify/websocket's error listener is on the socket, and releaseUpgrade puts ours in its place", async (t) => {
  const { socket } = await serverSocket(t, false)
  t.ok(socket.listenerCount('error') >= 1, '@fastify/websocket listens for errors')
  const ours = (): void => {}
  releaseUpgrade(socket, rawTransport(socket), ours)
  t.same(socket.listeners('error'), [ours], 'only ours is left')
})

t.test('injectWS runs over an in-memory duplex (not a net.Socket) that rawTransport still writes to', async (t) => {
  const { socket } = await serverSocket(t, true)
  const transport = rawTransport(socket)
  t.ok(transport !== undefined, 'found')
  t.notOk(transport instanceof Socket, 'not a net.Socket: releaseUpgrade destroys it once both directions end')
})

t.test('an extension (permessage-deflate) means ws must frame: no raw transport', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyWebsocket, { options: { perMessageDeflate: true } })
  let resolveSocket!: (ws: WebSocket) => void
  const got = new Promise<WebSocket>((resolve) => { resolveSocket = resolve })
  app.get('/ws', { websocket: true }, (socket) => { resolveSocket(socket as unknown as WebSocket) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const client = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`, { perMessageDeflate: true })
  client.on('error', () => {})
  t.after(() => client.terminate())
  const socket = await got
  t.not(socket.extensions, '')
  t.equal(rawTransport(socket), undefined)
})

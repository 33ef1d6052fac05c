// Baseline: the very same broadcast code as the plain `ws` server, behind a naive
// `@fastify/websocket` + `@fastify/jwt` setup, to see what Fastify itself adds.
import fastifyJwt from '@fastify/jwt'
import fastifyWebsocket from '@fastify/websocket'
import Fastify from 'fastify'
import { BaselineChat } from './baseline-chat.js'
import { PORT, ready, SECRET } from './control.js'

async function main (): Promise<void> {
  const chat = new BaselineChat('plain')
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, { secret: SECRET, verify: { extractToken: (req) => (req.query as { token?: string }).token } })
  await app.register(fastifyWebsocket, { options: { maxPayload: 65536, perMessageDeflate: false } })
  app.addHook('onRequest', async (req) => { await req.jwtVerify() })
  app.get('/chat', { websocket: true }, (socket, req) => chat.connection(socket, (req.user as { sub: string }).sub))
  await app.listen({ port: PORT, host: '127.0.0.1' })
  ready((app.server.address() as { port: number }).port)
}
void main()

// fastify-chat with every feature on: auth, presence, rate limits (raised so that a benchmark
// publisher may send faster than 20 frames a second, but still running), heartbeats,
// slow-consumer checks.
import Fastify from 'fastify'
import chatPlugin from '../../lib/index.js'
import { PORT, ready, SECRET } from './control.js'

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(chatPlugin, {
    jwt: { secret: SECRET },
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 }
  })
  await app.listen({ port: PORT, host: '127.0.0.1' })
  ready((app.server.address() as { port: number }).port)
}
void main()

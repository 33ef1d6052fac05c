// fastify-chat with every feature on: auth, presence, rate limits (raised so that a benchmark
// publisher may send faster than 20 frames a second, but still running), heartbeats,
// slow-consumer checks.
import Fastify from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { redisAdapter } from '../../lib/index.js'
import { PORT, ready, SECRET } from './control.js'

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  await app.register(chatPlugin, {
    jwt: { secret: SECRET },
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    // BENCH_HISTORY=off: no history kept (seq and epoch still assigned), to measure its cost.
    history: process.env.BENCH_HISTORY === 'off' ? false : undefined,
    // BENCH_REDIS: the Redis adapter, for the cluster scenario (processes share BENCH_PREFIX).
    adapter: process.env.BENCH_REDIS === undefined
      ? undefined
      : redisAdapter({ client: new Redis(process.env.BENCH_REDIS), prefix: process.env.BENCH_PREFIX })
  })
  await app.listen({ port: PORT, host: '127.0.0.1' })
  ready((app.server.address() as { port: number }).port)
}
void main()

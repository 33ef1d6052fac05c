// fastify-chat with every feature on: auth, presence, rate limits (raised so that a benchmark
// publisher may send faster than 20 frames a second, but still running), heartbeats,
// slow-consumer checks.
import Fastify from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { postgresStore, redisAdapter } from '../../lib/index.js'
import { PORT, ready, SECRET } from './control.js'

// The client as the README advises, with ioredis's auto-pipelining (the commands of one event-loop
// turn in one write); BENCH_AUTOPIPELINING=0 turns it off, to measure what it saves.
const enableAutoPipelining = process.env.BENCH_AUTOPIPELINING !== '0'

function redisClient (): Redis | InstanceType<typeof Redis.Cluster> | undefined {
  const nodes = process.env.BENCH_REDIS_CLUSTER
  if (nodes !== undefined && nodes !== '') {
    return new Redis.Cluster(nodes.split(',').map((hp) => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) })), { enableAutoPipelining })
  }
  return process.env.BENCH_REDIS === undefined ? undefined : new Redis(process.env.BENCH_REDIS, { enableAutoPipelining })
}

async function main (): Promise<void> {
  const redis = redisClient()
  const app = Fastify({ logger: false })
  await app.register(chatPlugin, {
    jwt: { secret: SECRET },
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
    // BENCH_LEAN: no presence and no default room.
    ...(process.env.BENCH_LEAN === '1' ? { presence: false, defaultRoom: false } : {}),
    // BENCH_HISTORY=off: no history kept (seq and epoch still assigned), to measure its cost.
    history: process.env.BENCH_HISTORY === 'off' ? false : undefined,
    // BENCH_EVENT_LOOP_DELAY (ms): admission control's threshold, to measure what it trades.
    ...(process.env.BENCH_EVENT_LOOP_DELAY === undefined ? {} : { admission: { maxEventLoopDelay: Number(process.env.BENCH_EVENT_LOOP_DELAY) } }),
    // BENCH_REDIS (a URL) or BENCH_REDIS_CLUSTER (host:port,...): the Redis adapter, for the
    // cluster scenarios (processes share BENCH_PREFIX).
    adapter: redis === undefined ? undefined : redisAdapter({ client: redis, prefix: process.env.BENCH_PREFIX }),
    // BENCH_STORE (a PostgreSQL URL) and BENCH_SCHEMA: messages committed there before delivery.
    store: process.env.BENCH_STORE === undefined ? undefined : postgresStore({ connectionString: process.env.BENCH_STORE }, { schema: process.env.BENCH_SCHEMA ?? 'bench' })
  })
  // BENCH_BACKLOG: the listen backlog (Node's default is 511; the storm scenario shows what it costs).
  await app.listen({ port: PORT, host: '127.0.0.1', backlog: Number(process.env.BENCH_BACKLOG ?? 4096) })
  // BENCH_STORM_RATE (messages a second) and BENCH_STORM_ROOMS: the storm scenario's flow, from the
  // server (it goes on while every client is away), round-robin over the rooms storm-0..., each
  // stamped with the time it was sent (`m<n>@<ms>`) for the bystanders' latency
  // BENCH_STORM_LOBBY (messages a second): the default room gets messages too, which every client
  // is in; its resume after a reconnect is where a message once came twice.
  const lobbyRate = Number(process.env.BENCH_STORM_LOBBY ?? 0)
  if (lobbyRate > 0) {
    let n = 0
    setInterval(() => { app.chat.broadcast('lobby', `l${n++}@${Date.now()}`).catch(() => {}) }, 1000 / lobbyRate).unref()
  }
  const rate = Number(process.env.BENCH_STORM_RATE ?? 0)
  if (rate > 0) {
    const rooms = Number(process.env.BENCH_STORM_ROOMS ?? 100)
    let n = 0
    setInterval(() => {
      for (let i = 0; i < rate / 100; i++) {
        const k = n++
        app.chat.broadcast(`storm-${k % rooms}`, `m${k}@${Date.now()}`).catch(() => {})
      }
    }, 10).unref()
  }
  ready((app.server.address() as { port: number }).port)
}
void main()

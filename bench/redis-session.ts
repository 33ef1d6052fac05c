// The Redis scenarios of `npm run bench` (session `redis`): two plugin processes on one Redis and
// on a 3-shard Redis Cluster (and, with --compare, an earlier checkout on one Redis):
//   R 1x1000   one room of 1,000 over two processes, 32 messages in flight;
//   R 1000x10  1,000 rooms of 10 over two processes, 2 messages in flight in each room;
// with deliveries/s, server and Redis CPU per delivery, cluster-bus publish messages during the
// window (classic PUBLISH is broadcast to every node; room traffic must cause none), and how busy
// the busiest shard was against the mean; then what Redis does (INFO commandstats) per connection
// (with its default-room join), per join, per message, and per idle minute per process.
import type { ChildProcess } from 'node:child_process'
import type { Job } from './loadgen.js'

export interface RedisTarget { name: string, script: string, env: Record<string, string>, spec: string }

export interface BenchContext {
  startServer: (target: { name: string, script: string, dialect: 'json', env?: Record<string, string> }, env?: Record<string, string>) => Promise<{ child: ChildProcess, port: number }>
  stop: (child: ChildProcess) => Promise<void>
  loadgen: (job: Job) => Promise<any[]>
  record: (metric: string, target: string, value: number) => void
  drop: (spec: string, pattern: string) => Promise<void>
}

export async function redisSession (ctx: BenchContext, target: RedisTarget, duration: number): Promise<void> {
  const prefix = `bench-${Date.now()}:`
  const env = { ...target.env, BENCH_PREFIX: prefix }
  const servers: Array<{ child: ChildProcess, port: number }> = []
  try {
    for (let i = 0; i < 2; i++) servers.push(await ctx.startServer({ name: target.name, script: target.script, dialect: 'json' }, env))
    const ports = servers.map((s) => s.port)
    const [costs] = await ctx.loadgen({ kind: 'costs', port: ports[0], ports, dialect: 'json', redis: target.spec, clients: 2000, rooms: 100, messages: 2000, idleMs: 10_000, processes: 2 })
    for (const [what, v] of Object.entries<{ commands: number, cpuUs: number, bytes?: number }>(costs)) {
      ctx.record(`R Redis commands per ${what}`, target.name, v.commands)
      ctx.record(`R Redis CPU µs per ${what}`, target.name, v.cpuUs)
      if (what === 'connection' || what === 'join') ctx.record(`R Redis memory bytes per ${what}`, target.name, v.bytes ?? 0)
    }
    for (const [shape, rooms, perRoom, inFlight] of [['1x1000', 1, 1000, 32], ['1000x10', 1000, 10, 2]] as const) {
      const [r] = await ctx.loadgen({
        kind: 'fanout',
        port: ports[0],
        ports,
        serverPid: servers[0].child.pid!,
        serverPids: servers.map((s) => s.child.pid!),
        redisUrl: target.spec,
        dialect: 'json',
        rooms,
        perRoom,
        runs: [{ name: 'R', inFlight, warmupMs: 1000, durationMs: duration }]
      })
      ctx.record(`R ${shape} over 2 processes deliveries/s`, target.name, r.perSecond)
      ctx.record(`R ${shape} server CPU µs/delivery`, target.name, r.cpuPerDelivery)
      ctx.record(`R ${shape} Redis CPU µs/delivery`, target.name, r.redisPerDelivery)
      ctx.record(`R ${shape} Redis commands per message`, target.name, r.redisCommandsPerMessage)
      ctx.record(`R ${shape} cluster-bus publish messages`, target.name, r.busPublish)
      if (rooms > 1) ctx.record(`R ${shape} busiest shard / mean (commands)`, target.name, r.busiestShard)
    }
  } finally {
    for (const s of servers) await ctx.stop(s.child)
    await ctx.drop(target.spec, `${prefix}*`)
  }
}

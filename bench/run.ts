// `npm run bench`: the plugin beside its baselines in one run, each server pinned to CPU 0 and
// the load generator to CPU 1 (taskset), all on 127.0.0.1, repetitions interleaved. Writes a
// markdown table of medians (min-max) and ratios to bench/results.md and prints it.
//
//   npm run bench -- [--reps 3] [--only plugin,floor-frame] [--sessions fanout1,fanout10,idle,setup]
//                    [--idle 10000] [--setup 5000] [--duration 3000] [--profile DIR] [--compare DIR]
// With --profile, each server runs with --cpu-prof and writes its profile to DIR
// (summarize one with `npx tsx bench/top-frames.ts FILE`).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { basename, isAbsolute, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { FanoutRun, Job } from './loadgen.js'
import { servers as redisServers } from './redis-stats.js'
import { reapSession } from './reap-session.js'
import { redisSession, type RedisTarget } from './redis-session.js'

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    only: { type: 'string' },
    sessions: { type: 'string', default: 'fanout1,fanout10,idle,setup,cluster,history,redis,reap,store,typing,storm,storm-kill' },
    database: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fastify_chat_test' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'redis-cluster': { type: 'string', default: process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103' },
    idle: { type: 'string', default: '10000' },
    setup: { type: 'string', default: '5000' },
    storm: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '3000' },
    out: { type: 'string', default: join(__dirname, 'results.md') },
    profile: { type: 'string' },
    // Another checkout of this repository (a worktree of an earlier commit): its plugin runs as
    // one more target, "plugin@<folder>", beside this one, in the same run.
    compare: { type: 'string' }
  }
})

interface Target { name: string, script: string, dialect: 'json' | 'socketio', env?: Record<string, string>, /** Only when named in --only. */ optIn?: boolean }
const TARGETS: Target[] = [
  { name: 'floor-coalesce', script: 'ws.ts', dialect: 'json', env: { BENCH_MODE: 'coalesce' } },
  { name: 'floor-frame', script: 'ws.ts', dialect: 'json', env: { BENCH_MODE: 'frame' } },
  { name: 'ws', script: 'ws.ts', dialect: 'json', env: { BENCH_MODE: 'plain' } },
  { name: 'fastify-naive', script: 'fastify-naive.ts', dialect: 'json' },
  { name: 'socket.io', script: 'socketio.ts', dialect: 'socketio' },
  { name: 'plugin', script: 'plugin.ts', dialect: 'json' },
  // The plugin without presence and the default room (what setup costs without them).
  { name: 'plugin-lean', script: 'plugin.ts', dialect: 'json', env: { BENCH_LEAN: '1' }, optIn: true }
]
// The cluster scenario: one room with members split over two processes on one Redis, beside the
// single-process plugin. Names ending in "x2" run as two processes.
const CLUSTER_TARGETS: Target[] = [
  { name: 'plugin', script: 'plugin.ts', dialect: 'json' },
  { name: 'plugin-redis x2', script: 'plugin.ts', dialect: 'json', env: { BENCH_REDIS: '' } },
  { name: 'socket.io-redis x2', script: 'socketio.ts', dialect: 'socketio', env: { BENCH_REDIS: '' } }
]
// History on and off, in memory and on Redis, the same fan-out.
const HISTORY_TARGETS: Target[] = [
  { name: 'plugin', script: 'plugin.ts', dialect: 'json' },
  { name: 'plugin no-history', script: 'plugin.ts', dialect: 'json', env: { BENCH_HISTORY: 'off' } },
  { name: 'plugin-redis x2', script: 'plugin.ts', dialect: 'json', env: { BENCH_REDIS: '' } },
  { name: 'plugin-redis x2 no-history', script: 'plugin.ts', dialect: 'json', env: { BENCH_REDIS: '', BENCH_HISTORY: 'off' } }
]
const TYPING_TARGETS: Target[] = [{ name: 'ws', script: 'ws.ts', dialect: 'json' }, { name: 'plugin', script: 'plugin.ts', dialect: 'json' }]

// The store scenario: the same fan-outs with messages committed to PostgreSQL first, beside none.
const STORE_TARGETS: Target[] = [
  { name: 'plugin', script: 'plugin.ts', dialect: 'json' },
  { name: 'plugin+store', script: 'plugin.ts', dialect: 'json', env: { BENCH_STORE: '' } }
]
// The Redis scenarios (bench/redis-session.ts): one Redis and a 3-shard cluster, and an earlier
// checkout on one Redis with --compare.
const REDIS_TARGETS: RedisTarget[] = [
  { name: 'redis x2', script: join(__dirname, 'servers', 'plugin.ts'), env: { BENCH_REDIS: args.redis! }, spec: args.redis! },
  { name: 'redis-cluster x2', script: join(__dirname, 'servers', 'plugin.ts'), env: { BENCH_REDIS_CLUSTER: args['redis-cluster']! }, spec: args['redis-cluster']! }
]
if (args.compare !== undefined) {
  TARGETS.push({ name: `plugin@${basename(args.compare)}`, script: join(args.compare, 'bench', 'servers', 'plugin.ts'), dialect: 'json' })
  TARGETS.push({ name: `plugin-lean@${basename(args.compare)}`, script: join(args.compare, 'bench', 'servers', 'plugin.ts'), dialect: 'json', env: { BENCH_LEAN: '1' }, optIn: true })
  REDIS_TARGETS.unshift({ name: `${basename(args.compare)} redis x2`, script: join(args.compare, 'bench', 'servers', 'plugin.ts'), env: { BENCH_REDIS: args.redis! }, spec: args.redis! })
}
const targets = args.only === undefined ? TARGETS.filter((t) => t.optIn !== true) : TARGETS.filter((t) => args.only!.split(',').includes(t.name))
const sessions = args.sessions!.split(',')
const reps = Number(args.reps)
const duration = Number(args.duration)
const idleClients = Number(args.idle)
const setupClients = Number(args.setup)
const pinned = cpus().length >= 2
const TSX = ['--import', 'tsx']

function node (cpu: number, argv: string[], env: Record<string, string> = {}): ChildProcess {
  const cmd = pinned ? 'taskset' : process.execPath
  const full = pinned ? ['-c', String(cpu), process.execPath, ...argv] : argv
  return spawn(cmd, full, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } })
}

function message<T> (child: ChildProcess, type: string, timeoutMs = 180_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" within ${timeoutMs} ms`)), timeoutMs)
    const onMessage = (m: any): void => {
      if (m?.type !== type) return
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(m as T)
    }
    const onExit = (code: number): void => { clearTimeout(timer); reject(new Error(`exited with ${code} before "${type}"`)) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

async function startServer (target: Target, extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess, port: number }> {
  // One folder per target; the main thread's profile is the largest file there (tsx's loader
  // thread writes a small one beside it).
  const prof = args.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(args.profile, target.name)}`]
  const script = isAbsolute(target.script) ? target.script : join(__dirname, 'servers', target.script)
  const child = node(0, ['--expose-gc', ...prof, ...TSX, script], { ...target.env, ...extraEnv })
  const { port } = await message<{ port: number }>(child, 'ready', 30_000)
  return { child, port }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // SIGTERM first: a clean exit lets a profiled server write its profile.
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

async function loadgen (job: Job): Promise<any[]> {
  const child = node(1, [...TSX, join(__dirname, 'loadgen.ts')])
  child.send(job)
  try {
    return (await message<{ results: any[] }>(child, 'result')).results
  } finally {
    await stop(child)
  }
}

async function memory (server: ChildProcess): Promise<{ rss: number, heapUsed: number }> {
  server.send({ type: 'mem' })
  return await message(server, 'mem', 30_000)
}

// results[metric][target] = values over repetitions
const results = new Map<string, Map<string, number[]>>()
const saturation = new Map<string, Map<string, number[]>>()
function record (metric: string, target: string, value: number, table = results): void {
  if (!Number.isFinite(value)) return
  let byTarget = table.get(metric)
  if (byTarget === undefined) table.set(metric, byTarget = new Map())
  let values = byTarget.get(target)
  if (values === undefined) byTarget.set(target, values = [])
  values.push(value)
}

const fanoutRuns = (withExtras: boolean): FanoutRun[] => [
  { name: 'A', inFlight: 32, warmupMs: 1000, durationMs: duration },
  ...(withExtras
    ? [
        { name: 'A1', inFlight: 1, warmupMs: 500, durationMs: duration },
        { name: 'B', rate: 100, warmupMs: 1000, durationMs: Math.max(duration, 5000) }
      ]
    : [])
]

/** The cluster scenario for one target: one room of 1,000 split over its processes. */
async function clusterSession (target: Target, metric = 'E cluster'): Promise<void> {
  const twice = target.name.includes('x2')
  const env: Record<string, string> = twice ? { BENCH_REDIS: args.redis!, BENCH_PREFIX: `bench-${Date.now()}:` } : {}
  const servers = []
  try {
    for (let i = 0; i < (twice ? 2 : 1); i++) servers.push(await startServer(target, env))
    const out = await loadgen({
      kind: 'fanout',
      port: servers[0].port,
      ports: servers.map((s) => s.port),
      serverPid: servers[0].child.pid!,
      serverPids: servers.map((s) => s.child.pid!),
      redisUrl: twice ? args.redis : undefined,
      dialect: target.dialect,
      rooms: 1,
      perRoom: 1000,
      runs: [{ name: 'A', inFlight: 32, warmupMs: 1000, durationMs: duration }]
    })
    const [r] = out
    record(`${metric} 1x1000 (32 in flight) deliveries/s`, target.name, r.perSecond)
    record(`${metric} CPU µs/delivery (servers)`, target.name, r.cpuPerDelivery)
    if (twice) record(`${metric} CPU µs/delivery (Redis)`, target.name, r.redisPerDelivery)
    record(`${metric} 1x1000 (32 in flight) server CPU`, target.name, r.serverUtil / servers.length, saturation)
    record(`${metric} 1x1000 (32 in flight) loadgen CPU`, target.name, r.loadgenUtil, saturation)
  } finally {
    for (const s of servers) await stop(s.child)
    if (twice) await dropKeys(`${env.BENCH_PREFIX}*`)
  }
}

/**
 * The store scenario for one target: one room of 1,000 (32 in flight, then 100 msg/s for the
 * latency), and 100 rooms of 10 with 32 in flight each (committed messages/s).
 */
async function storeSession (target: Target): Promise<void> {
  const stored = target.env?.BENCH_STORE !== undefined
  const schema = `bench_${Date.now()}`
  const env: Record<string, string> = stored ? { BENCH_STORE: args.database!, BENCH_SCHEMA: schema } : {}
  try {
    for (const shape of [{ rooms: 1, perRoom: 1000 }, { rooms: 100, perRoom: 10 }]) {
      const { child, port } = await startServer(target, env)
      try {
        const one = shape.rooms === 1
        const runs: FanoutRun[] = [{ name: 'A', inFlight: 32, warmupMs: 1000, durationMs: duration }]
        if (one) runs.push({ name: 'B', rate: 100, warmupMs: 1000, durationMs: Math.max(duration, 5000) })
        const out = await loadgen({ kind: 'fanout', port, dialect: target.dialect, serverPid: child.pid!, ...shape, runs })
        for (const r of out) {
          if (r.name === 'B') {
            record('S p50 ms (1x1000, 100 msg/s)', target.name, r.p50)
            record('S p99 ms (1x1000, 100 msg/s)', target.name, r.p99)
            continue
          }
          if (one) {
            record('S 1x1000 (32 in flight) deliveries/s', target.name, r.perSecond)
            record('S 1x1000 CPU µs/delivery', target.name, r.cpuPerDelivery)
            record('S 1x1000 (32 in flight) server CPU', target.name, r.serverUtil, saturation)
            record('S 1x1000 (32 in flight) loadgen CPU', target.name, r.loadgenUtil, saturation)
          } else {
            record('S 100x10 (32 in flight each) messages/s', target.name, r.perSecond / shape.perRoom)
            record('S 100x10 (32 in flight each) server CPU', target.name, r.serverUtil, saturation)
            record('S 100x10 (32 in flight each) loadgen CPU', target.name, r.loadgenUtil, saturation)
          }
        }
      } finally {
        await stop(child)
      }
    }
  } finally {
    if (stored) execFileSync('psql', [args.database!, '-qc', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: ['ignore', 'ignore', 'inherit'] })
  }
}

/**
 * The typing scenario: one room of 100, the server's CPU per second idle, with one message a second
 * to the room, and with every member sending `typing` every 3 s (the typed client's debounce).
 */
async function typingSession (target: Target): Promise<void> {
  const { child, port } = await startServer(target)
  try {
    const [r] = await loadgen({ kind: 'typing', port, dialect: target.dialect, serverPid: child.pid!, members: 100, durationMs: Math.max(duration, 6000) })
    record('T 1x100 server CPU µs/s idle', target.name, r.idle)
    record('T 1x100 server CPU µs/s, 1 message/s (above idle)', target.name, r.message - r.idle)
    record('T 1x100 server CPU µs/s, all typing every 3 s (above idle)', target.name, r.typing - r.idle)
  } finally {
    await stop(child)
  }
}

/** Deletes what a run left on every server of a deployment (a URL, or a cluster's nodes). */
async function dropRedisKeys (spec: string, pattern: string): Promise<void> {
  const { Redis } = await import('ioredis')
  for (const { host, port } of redisServers(spec)) {
    const redis = new Redis(port, host)
    try {
      if ((await redis.info('replication')).includes('role:slave')) continue
      for (;;) {
        const keys = await redis.keys(pattern)
        if (keys.length === 0) break
        // One key per DEL: on a cluster node, keys of several slots cannot go together.
        await Promise.all(keys.map(async (k) => await redis.del(k)))
      }
    } finally {
      redis.disconnect()
    }
  }
}

/** Deletes what a cluster run left in Redis (its servers are killed, not closed). */
async function dropKeys (pattern: string): Promise<void> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(args.redis!)
  try {
    const keys = await redis.keys(pattern)
    if (keys.length > 0) await redis.del(...keys)
  } finally {
    redis.disconnect()
  }
}

function recordStorm (label: string, target: string, r: any): void {
  record(`${label}: s until all recovered`, target, r.recoverySeconds)
  record(`${label}: clients recovered (of all)`, target, r.recovered)
  record(`${label}: messages lost`, target, r.lost)
  record(`${label}: messages duplicated`, target, r.duplicated)
  record(`${label}: messages received and checked by seq`, target, r.checked)
  record(`${label}: joins not recovered`, target, r.notRecovered)
  record(`${label}: upgrades refused (503/429) and retried`, target, r.refused)
  record(`${label}: reconnect attempts after the first`, target, r.retries)
  record(`${label}: server CPU s`, target, r.serverCpuSeconds)
  record(`${label}: peak server CPU (cores)`, target, r.peakServerCpu)
  record(`${label}: peak server RSS MiB`, target, r.peakRssMiB)
  if (r.p99Before !== undefined) {
    record(`${label}: bystanders' p99 delivery ms, before the cut`, target, r.p99Before)
    record(`${label}: bystanders' p99 delivery ms, during the storm`, target, r.p99During)
  }
}

/**
 * The storm with the server killed: the plugin on Redis (its history outlives the process), killed
 * with SIGKILL when the load generator asks, and started again on the same port.
 */
async function stormKill (target: Target): Promise<void> {
  const n = Number(args.storm)
  const env = { BENCH_REDIS: args.redis!, BENCH_PREFIX: `bench-storm-${Date.now()}:`, BENCH_STORM_RATE: '100', BENCH_STORM_ROOMS: '100' }
  let { child, port } = await startServer(target, env)
  const gen = node(1, [...TSX, join(__dirname, 'loadgen.ts')])
  try {
    gen.on('message', (m: any) => {
      if (m?.type !== 'kill') return
      child.kill('SIGKILL')
      child.once('exit', () => {
        startServer(target, { ...env, PORT: String(port) }).then((next) => {
          child = next.child
          gen.send({ type: 'restarted', pid: child.pid })
        }, (err: unknown) => { console.error('restart failed', err) })
      })
    })
    gen.send({ kind: 'storm', mode: 'kill', dialect: 'json', port, serverPid: child.pid!, clients: n, rooms: 100, settleMs: 2000, redis: args.redis! } satisfies Job)
    const { results: [r] } = await message<{ results: any[] }>(gen, 'result')
    recordStorm(`E storm (${n}, server on Redis killed and restarted)`, target.name, r)
    record(`E storm (${n}, server on Redis killed and restarted): Redis CPU s`, target.name, r.redisCpuSeconds)
    record(`E storm (${n}, server on Redis killed and restarted): Redis commands`, target.name, r.redisCalls)
    console.log(`storm-kill: Redis's busiest commands: ${String(r.redisTop)}`)
  } finally {
    await stop(gen)
    await stop(child)
    await dropKeys(`${env.BENCH_PREFIX}*`)
  }
}

async function session (name: string, target: Target): Promise<void> {
  if (name === 'storm-kill' && !target.name.startsWith('plugin')) return
  if (name === 'storm' && !target.name.startsWith('plugin') && target.name !== 'socket.io') return
  if (name === 'storm-kill') return await stormKill(target)
  const { child, port } = await startServer(target, name === 'storm' ? { BENCH_STORM_RATE: '100', BENCH_STORM_ROOMS: '100' } : {})
  const serverPid = child.pid!
  try {
    if (name === 'fanout1' || name === 'fanout10') {
      const one = name === 'fanout1'
      const shape = one ? '1x1000' : '10x100'
      const out = await loadgen({ kind: 'fanout', port, dialect: target.dialect, serverPid, rooms: one ? 1 : 10, perRoom: one ? 1000 : 100, runs: fanoutRuns(one) })
      for (const r of out) {
        if (r.name === 'B') {
          record('B p50 ms (1x1000, 100 msg/s)', target.name, r.p50)
          record('B p99 ms (1x1000, 100 msg/s)', target.name, r.p99)
          record('B max ms (1x1000, 100 msg/s)', target.name, r.max)
          continue
        }
        const label = `${r.name} ${shape}${r.name === 'A1' ? ' (1 in flight)' : ' (32 in flight)'}`
        record(`${label} deliveries/s`, target.name, r.perSecond)
        record(`${label} CPU µs/delivery`, target.name, r.cpuPerDelivery)
        record(`${label} server CPU`, target.name, r.serverUtil, saturation)
        record(`${label} loadgen CPU`, target.name, r.loadgenUtil, saturation)
      }
    } else if (name === 'idle') {
      const before = await memory(child)
      const perProcess = 9_500
      const gens: ChildProcess[] = []
      let offset = 0
      while (offset < idleClients) {
        const n = Math.min(perProcess, idleClients - offset)
        const gen = node(1, [...TSX, join(__dirname, 'loadgen.ts')])
        gen.send({ kind: 'idle', port, dialect: target.dialect, clients: n, rooms: 100, offset } satisfies Job)
        gens.push(gen)
        offset += n
      }
      try {
        await Promise.all(gens.map((g) => message(g, 'held')))
        const after = await memory(child)
        record(`C heap KiB/connection (${idleClients} idle)`, target.name, (after.heapUsed - before.heapUsed) / idleClients / 1024)
        record(`C RSS KiB/connection (${idleClients} idle)`, target.name, (after.rss - before.rss) / idleClients / 1024)
        record('C RSS MiB before connections', target.name, before.rss / 1024 / 1024)
      } finally {
        for (const g of gens) { g.send('release'); await stop(g) }
      }
    } else if (name === 'storm') {
      const n = Number(args.storm)
      // The bystanders in a process of their own, told the storm's phases as they come.
      const by = node(1, [...TSX, join(__dirname, 'loadgen.ts')])
      const gen = node(1, [...TSX, join(__dirname, 'loadgen.ts')])
      try {
        by.send({ kind: 'bystanders', dialect: target.dialect, port, rooms: 100 } satisfies Job)
        await message(by, 'ready', 60_000)
        gen.on('message', (m: any) => { if (m?.type === 'phase') by.send(m) })
        gen.send({ kind: 'storm', mode: 'cut', dialect: target.dialect, port, serverPid, clients: n, rooms: 100, settleMs: 2000 } satisfies Job)
        const { results: [r] } = await message<{ results: any[] }>(gen, 'result')
        by.send({ type: 'report' })
        const { results: [b] } = await message<{ results: any[] }>(by, 'result')
        recordStorm(`E storm (${n}, every socket cut)`, target.name, { ...r, p99Before: b.p99Before, p99During: b.p99During })
      } finally {
        await stop(gen)
        await stop(by)
      }
    } else if (name === 'setup') {
      const [r] = await loadgen({ kind: 'setup', port, dialect: target.dialect, serverPid, clients: setupClients, concurrency: 50, defaultRoom: target.env?.BENCH_LEAN !== '1' })
      record(`D setup CPU µs/connection (${setupClients})`, target.name, r.cpuPerConnection)
      record('D setup server CPU', target.name, r.serverUtil, saturation)
      record('D setup loadgen CPU', target.name, r.loadgenUtil, saturation)
    }
  } finally {
    await stop(child)
  }
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
function fmt (x: number): string {
  if (x >= 10000) return Math.round(x).toLocaleString('en-US')
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/** The baseline each metric is compared with, as the targets name it. */
function baselineOf (metric: string): string {
  if (metric.startsWith('R ')) return REDIS_TARGETS[0].name
  if (metric.startsWith('X ')) return 'plugin'
  if (metric.startsWith('A ')) return 'floor-coalesce'
  if (metric.startsWith('A1') || metric.startsWith('B ')) return 'floor-frame'
  if (metric.startsWith('E ')) return 'plugin'
  if (metric.startsWith('F ')) return 'plugin'
  if (metric.startsWith('S ')) return 'plugin'
  return 'ws'
}

function table (): string {
  const names = targets.map((t) => t.name)
  for (const t of CLUSTER_TARGETS) if (sessions.includes('cluster') && !names.includes(t.name)) names.push(t.name)
  for (const t of HISTORY_TARGETS) if (sessions.includes('history') && !names.includes(t.name)) names.push(t.name)
  for (const t of REDIS_TARGETS) if (sessions.includes('redis') && !names.includes(t.name)) names.push(t.name)
  for (const t of STORE_TARGETS) if (sessions.includes('store') && !names.includes(t.name)) names.push(t.name)
  for (const t of TYPING_TARGETS) if (sessions.includes('typing') && !names.includes(t.name)) names.push(t.name)
  const lines = [
    `| metric | ${names.join(' | ')} |`,
    `|---|${names.map(() => '---').join('|')}|`
  ]
  for (const [metric, byTarget] of results) {
    const base = byTarget.get(baselineOf(metric))
    const baseMedian = base === undefined ? undefined : median(base)
    const cells = names.map((n) => {
      const v = byTarget.get(n)
      if (v === undefined || v.length === 0) return '-'
      const m = median(v)
      const range = v.length > 1 ? ` (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})` : ''
      const ratio = baseMedian !== undefined && n !== baselineOf(metric) ? ` **${(m / baseMedian).toFixed(2)}x**` : ''
      return `${fmt(m)}${range}${ratio}`
    })
    lines.push(`| ${metric} | ${cells.join(' | ')} |`)
  }
  lines.push('', 'CPU use during each measured window (1.00 = one core saturated): server / load generator', '')
  lines.push(`| window | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`)
  const windows = new Set([...saturation.keys()].map((k) => k.replace(/ (server|loadgen) CPU$/, '')))
  for (const w of windows) {
    const s = saturation.get(`${w} server CPU`); const l = saturation.get(`${w} loadgen CPU`)
    lines.push(`| ${w} | ${names.map((n) => {
      const sv = s?.get(n); const lv = l?.get(n)
      return sv === undefined ? '-' : `${median(sv).toFixed(2)} / ${lv === undefined ? '-' : median(lv).toFixed(2)}`
    }).join(' | ')} |`)
  }
  return lines.join('\n')
}

/** Memory for a million idle connections over 50 processes of 20,000, from the measured RSS. */
function projection (): string {
  const perConn = [...results].find(([m]) => m.startsWith('C RSS KiB/connection'))?.[1]
  const base = results.get('C RSS MiB before connections')
  const lines: string[] = []
  for (const t of targets) {
    const k = perConn?.get(t.name); const b = base?.get(t.name)
    if (k === undefined || b === undefined) continue
    const perProcess = median(b) + 20_000 * median(k) / 1024
    lines.push(`- ${t.name}: ${perProcess.toFixed(0)} MiB RSS per process of 20,000 (${median(b).toFixed(0)} MiB at rest + 20,000 x ${median(k).toFixed(2)} KiB), ${(50 * perProcess / 1024).toFixed(1)} GiB for 1,000,000 connections over 50 processes`)
  }
  return lines.length === 0 ? '' : `\nProjection from scenario C:\n\n${lines.join('\n')}\n`
}

async function main (): Promise<void> {
  const started = new Date()
  // Redis and the 3-shard cluster the Redis scenarios run on, started when they do not answer.
  if (sessions.some((s) => s === 'cluster' || s === 'history' || s === 'redis' || s === 'store')) {
    execFileSync(process.execPath, [join(__dirname, '..', 'scripts', 'test-services.mjs')], { stdio: 'inherit' })
  }
  console.log(`fastify-chat benchmark: ${reps} repetition(s), sessions ${sessions.join(', ')}, targets ${targets.map((t) => t.name).join(', ')}${pinned ? '' : ' (NOT pinned: fewer than 2 CPUs)'}`)
  for (let rep = 0; rep < reps; rep++) {
    for (const name of sessions) {
      // Rotate the order each repetition so that no target always runs first or last.
      const list: Array<{ name: string }> = name === 'cluster' ? CLUSTER_TARGETS : name === 'history' ? HISTORY_TARGETS : name === 'redis' ? REDIS_TARGETS : name === 'reap' ? [{ name: 'plugin' }] : name === 'store' ? STORE_TARGETS : name === 'typing' ? TYPING_TARGETS : targets
      const order = list.map((_, i) => list[(i + rep) % list.length])
      for (const target of order) {
        process.stdout.write(`  rep ${rep + 1}/${reps} ${name} ${target.name} ... `)
        const t0 = Date.now()
        try {
          if (name === 'cluster') await clusterSession(target as Target)
          else if (name === 'history') await clusterSession(target as Target, 'F history')
          else if (name === 'redis') await redisSession({ startServer, stop, loadgen, record, drop: dropRedisKeys }, target as RedisTarget, duration)
          else if (name === 'reap') await reapSession(record)
          else if (name === 'store') await storeSession(target as Target)
          else if (name === 'typing') await typingSession(target as Target)
          else await session(name, target as Target)
          console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s`)
        } catch (err) {
          console.log(`FAILED: ${(err as Error).message}`)
        }
      }
    }
  }
  const header = [
    '# fastify-chat benchmark results',
    '',
    `${started.toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
      `${reps} interleaved repetition(s): median (min-max) and, in bold, the ratio to the baseline the targets name ` +
      '(A: floor-coalesce; A1 and B: floor-frame; C and D: ws). Lower is better for CPU, latency and memory; higher for deliveries/s.',
    `Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\`. Servers pinned to CPU 0, the load generator to CPU 1.`,
    'The plugin runs with every feature on; its rate limit is raised to 1,000,000 frames/s (burst 1,000,000) so that the publisher may send as fast as the room drains, and still runs.',
    ''
  ].join('\n')
  const text = `${header}\n${table()}\n${projection()}`
  writeFileSync(args.out!, text)
  console.log(`\n${text}\nwritten to ${args.out}`)
}

void main()

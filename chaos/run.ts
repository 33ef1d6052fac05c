/**
 * `npm run chaos -- --seed N --duration S`: the example as a fleet (3 processes on a Redis
 * Cluster of 3 masters with replicas, with a PostgreSQL store), about 40 clients of
 * fastify-chat/client doing what users do, faults on a seeded schedule, then the checker over the
 * clients' logs and the final history. Writes chaos-runs/<seed>/ (logs, report.md, timeline.svg);
 * exits 0 when valid, 1 when an anomaly was found, 2 when inconclusive (too little was covered),
 * 3 when the run itself failed. Everything it started is stopped, whatever happens.
 *
 *   --seed N          the schedule's and the workload's seed (default: from the clock, printed)
 *   --duration S      seconds of faults and traffic (default 150); then 15 s of quiet
 *   --clients N       default 40;   --rate N  operations a second over all clients (default 150)
 *   --base PORT       first port used (default 7300): Redis 7300-7305, servers 7310+, PostgreSQL 7350
 *   --faults a,b      only these fault kinds;  --min-coverage 0  report coverage without requiring it
 *   --raw             also log every frame each socket got (large logs: to find where one went astray)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { check } from './checker.js'
import { runFaults, type FaultContext } from './faults.js'
import { finalHistory } from './history.js'
import type { Entry, FaultRecord } from './log.js'
import { conclusive, report, timeline, type Coverage } from './report.js'
import { Rng } from './rng.js'
import { Topology } from './topology.js'
import { conversations, startingRooms, User } from './workload.js'

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string' },
    duration: { type: 'string', default: '150' },
    clients: { type: 'string', default: '40' },
    rate: { type: 'string', default: '150' },
    base: { type: 'string', default: '7300' },
    faults: { type: 'string' },
    'min-coverage': { type: 'string', default: '1' },
    raw: { type: 'boolean', default: false },
    out: { type: 'string', default: join(__dirname, '..', 'chaos-runs') }
  }
})
const seed = args.seed === undefined ? Date.now() % 1_000_000 : Number(args.seed)
const duration = Number(args.duration) * 1000
const clients = Number(args.clients)
const QUIET = 15_000
const command = `npm run chaos -- --seed ${seed} --duration ${args.duration} --clients ${clients} --rate ${args.rate}${args.faults === undefined ? '' : ` --faults ${args.faults}`}`
const started = Date.now()
const now = (): number => Date.now() - started
const say = (line: string): void => { console.log(`[${(now() / 1000).toFixed(1).padStart(6)}] ${line}`) }
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Redis's own error counters (INFO errorstats), summed over each node's lives. */
class ErrorStats {
  readonly #last = new Map<number, Record<string, number>>()
  readonly #total: Record<string, number> = {}
  sample (topo: Topology): void {
    for (const n of topo.redis) {
      if (n.proc === undefined || n.paused) continue
      const text = topo.redisCli(n.port, 'info', 'errorstats')
      if (text === undefined) continue
      const now: Record<string, number> = {}
      for (const m of text.matchAll(/errorstat_([A-Z]+):count=(\d+)/g)) now[m[1]] = Number(m[2])
      const before = this.#last.get(n.port) ?? {}
      for (const [k, v] of Object.entries(now)) this.#total[k] = (this.#total[k] ?? 0) + (v >= (before[k] ?? 0) ? v - (before[k] ?? 0) : v)
      this.#last.set(n.port, now)
    }
  }

  get (kind: string): number {
    return this.#total[kind] ?? 0
  }
}

/** Epochs the clients saw in a room after its first, over every room. */
function newEpochs (logs: Array<{ entries: Entry[] }>): number {
  const epochs = new Map<string, Set<string>>()
  for (const { entries } of logs) {
    for (const e of entries) {
      if (e.k !== 'joined' && e.k !== 'message') continue
      let set = epochs.get(e.room)
      if (set === undefined) epochs.set(e.room, set = new Set())
      set.add(e.epoch)
    }
  }
  let n = 0
  for (const set of epochs.values()) n += set.size - 1
  return n
}

/** How often a client's connection closed while some of its messages waited for their ack (resent with their ref). */
function cutWithSendsPending (entries: Entry[]): number {
  const pending = new Set<number>()
  let n = 0
  for (const e of entries) {
    if (e.k === 'send') pending.add(e.n)
    else if (e.k === 'ok' || e.k === 'fail') pending.delete(e.n)
    else if (e.k === 'close' && e.code !== 1000 && pending.size > 0) n++
  }
  return n
}

async function main (): Promise<number> {
  say(`chaos run, seed ${seed}: ${command}`)
  const rng = new Rng(seed)
  const dir = join(args.out!, String(seed))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'logs'), { recursive: true })
  const topo = new Topology({ base: Number(args.base), servers: 3, log: say, logDir: join(dir, 'logs') })
  const stop = async (): Promise<void> => { await topo.stop().catch((err: unknown) => say(`stopping: ${(err as Error).message}`)) }
  process.once('SIGINT', () => { void stop().then(() => process.exit(130)) })
  process.once('SIGTERM', () => { void stop().then(() => process.exit(143)) })
  try {
    await topo.start()
    const ports = topo.servers.map((s) => s.port)
    const workRng = rng.fork(1)
    const users: User[] = []
    for (let i = 0; i < clients; i++) {
      users.push(new User(i, {
        clients,
        rate: Number(args.rate),
        secret: 'chaos-secret-that-is-long-enough-for-hs256',
        ports,
        alive: (k) => topo.servers[k].proc !== undefined && !topo.servers[k].paused,
        rng: workRng,
        now,
        raw: args.raw
      }))
    }
    await Promise.all(users.map(async (u, i) => await u.start(startingRooms(i, clients))))
    say(`${users.length} clients connected`)

    const stats = new ErrorStats()
    const sampler = setInterval(() => stats.sample(topo), 2000)
    const ctx: FaultContext = { topo, users, rng: rng.fork(2), now, log: say, prefix: 'fastify-chat:', seen: { failovers: 0, pgCrashesWithSendsInFlight: 0, noscriptTwoInFlight: 0 } }
    const only = args.faults === undefined ? undefined : new Set(args.faults.split(','))
    const end = now() + duration
    // Traffic until the end, faults from 5 s in until 10 s before it.
    const origin = (k: number): string => `http://127.0.0.1:${ports[k]}`
    const traffic = (async () => {
      const gap = 1000 * clients / Number(args.rate)
      await Promise.all(users.map(async (u) => {
        while (now() < end) {
          await sleep(workRng.next() * 2 * gap)
          await u.act(users, origin).catch((err: unknown) => say(`${u.name}: ${(err as Error).message}`))
        }
        await u.settled()
      }))
    })()
    const faults: FaultRecord[] = await runFaults(ctx, now() + 5000, end - 10_000, only)
    await traffic
    say(`faults over (${faults.length}); quiet for ${QUIET / 1000} s`)
    // Quiet: every server up, every pending request settled, every client caught up.
    for (const s of topo.servers) if (s.proc === undefined) await topo.startServer(s)
    await sleep(QUIET)
    stats.sample(topo)
    clearInterval(sampler)
    for (const u of users) u.end()
    const rooms = await finalHistory(topo.databaseUrl, 'chat', conversations(users))
    const logs = users.map((u) => u.log)
    const verdict = check(logs, rooms)
    const coverage: Coverage = {
      noscript: stats.get('NOSCRIPT'),
      noscriptTwoInFlight: ctx.seen.noscriptTwoInFlight,
      redirects: stats.get('MOVED') + stats.get('ASK'),
      tryagain: stats.get('TRYAGAIN'),
      failovers: ctx.seen.failovers,
      pgCrashesWithSendsInFlight: ctx.seen.pgCrashesWithSendsInFlight,
      resentRefs: logs.reduce((n, l) => n + cutWithSendsPending(l.entries), 0),
      unrecovered: logs.reduce((n, l) => n + l.entries.filter((e) => e.k === 'joined' && e.recovered === false).length, 0),
      newEpochs: newEpochs(logs)
    }
    const missing = Number(args['min-coverage']) === 0 ? [] : conclusive(coverage)
    for (const l of logs) writeFileSync(join(dir, 'logs', `${l.client}.jsonl`), l.entries.map((e) => JSON.stringify(e)).join('\n') + '\n')
    writeFileSync(join(dir, 'history.json'), JSON.stringify(rooms))
    writeFileSync(join(dir, 'faults.json'), JSON.stringify(faults, null, 1))
    writeFileSync(join(dir, 'timeline.svg'), timeline(faults, logs, now()))
    writeFileSync(join(dir, 'report.md'), report({ seed, duration, command, verdict, coverage, faults, logs, missing }))
    say(`${verdict.valid ? (missing.length === 0 ? 'VALID' : `INCONCLUSIVE (${missing.join(', ')})`) : 'INVALID'}: ${JSON.stringify(verdict.counts)}; coverage ${JSON.stringify(coverage)}`)
    say(`report: ${join(dir, 'report.md')}`)
    if (!verdict.valid) say(`replay: ${command}`)
    return !verdict.valid ? 1 : missing.length > 0 ? 2 : 0
  } finally {
    await stop()
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err)
  process.exit(3)
})

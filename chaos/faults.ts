/**
 * The faults of a chaos run, and their schedule: seeded, at most two at a time and from different
 * parts (processes, Redis, PostgreSQL, clients, the network), with quiet windows between. Each
 * fault undoes itself (restarts, wakes, heals) and is recorded with when it began and ended.
 */
import Redis from 'ioredis'
import type { FaultRecord } from './log.js'
import type { Rng } from './rng.js'
import type { ChatServer, Topology } from './topology.js'
import { HOT, type User } from './workload.js'

export type Part = 'process' | 'redis' | 'pg' | 'clients' | 'network'

export interface FaultContext {
  topo: Topology
  users: User[]
  rng: Rng
  now: () => number
  log: (line: string) => void
  /** Key prefix of the chat (a room's keys carry `{r:<room>}`). */
  prefix: string
  /** What happened that the coverage counts. */
  seen: { failovers: number, pgCrashesWithSendsInFlight: number, noscriptTwoInFlight: number }
}

interface Fault {
  name: string
  part: Part
  /** Does the fault and undoes it; resolves with what it hit. */
  run: (ctx: FaultContext) => Promise<string>
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function liveServer (ctx: FaultContext): ChatServer | undefined {
  const live = ctx.topo.servers.filter((s) => s.proc !== undefined && !s.paused)
  return live.length === 0 ? undefined : ctx.rng.pick(live)
}

/** A hot room's master (and its replica), as the cluster says now. */
function hotOwner (ctx: FaultContext): { room: string, master?: number, replica?: number, slot: number } {
  const room = ctx.rng.pick(HOT)
  return { room, ...ctx.topo.ownerOf(`{r:${room}}`) }
}

/** Waits until `port` is no master any more (its replica took over), at most `ms`. */
async function failedOver (ctx: FaultContext, port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (!ctx.topo.masters().includes(port)) return true
    await sleep(200)
  }
  return false
}

async function direct<T> (port: number, run: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true })
  r.on('error', () => {})
  try {
    await r.connect()
    return await run(r)
  } finally {
    r.disconnect()
  }
}

export const FAULTS: Fault[] = [
  {
    name: 'process-kill',
    part: 'process',
    async run (ctx) {
      const s = liveServer(ctx)
      if (s === undefined) return 'none'
      await ctx.topo.killServer(s)
      await sleep(ctx.rng.int(1000, 3000))
      const attempts = await ctx.topo.startServer(s)
      return `server ${s.index}${attempts > 1 ? ` (started again after ${attempts} attempts)` : ''}`
    }
  },
  {
    name: 'process-pause',
    part: 'process',
    async run (ctx) {
      const s = liveServer(ctx)
      if (s?.proc === undefined) return 'none'
      s.proc.kill('SIGSTOP')
      s.paused = true
      await sleep(ctx.rng.int(1000, 8000))
      s.proc?.kill('SIGCONT')
      s.paused = false
      return `server ${s.index}`
    }
  },
  {
    name: 'redis-kill',
    part: 'redis',
    async run (ctx) {
      const { room, master } = hotOwner(ctx)
      const node = ctx.topo.redis.find((n) => n.port === master)
      if (node?.proc === undefined) return 'none'
      node.proc.kill('SIGKILL')
      if (await failedOver(ctx, node.port, 15_000)) ctx.seen.failovers++
      await sleep(ctx.rng.int(1000, 4000))
      ctx.topo.startRedisNode(node)
      return `master ${node.port} of ${room}`
    }
  },
  {
    name: 'redis-pause',
    part: 'redis',
    async run (ctx) {
      const { room, master } = hotOwner(ctx)
      const node = ctx.topo.redis.find((n) => n.port === master)
      if (node?.proc === undefined) return 'none'
      node.proc.kill('SIGSTOP')
      node.paused = true
      await sleep(ctx.rng.int(3000, 5000))
      node.proc?.kill('SIGCONT')
      node.paused = false
      if (await failedOver(ctx, node.port, 3000)) ctx.seen.failovers++
      return `master ${node.port} of ${room}`
    }
  },
  {
    name: 'cluster-failover',
    part: 'redis',
    async run (ctx) {
      const { room, master, replica } = hotOwner(ctx)
      if (master === undefined || replica === undefined) return 'none'
      ctx.topo.redisCli(replica, 'cluster', 'failover')
      if (await failedOver(ctx, master, 10_000)) ctx.seen.failovers++
      return `replica ${replica} of ${room}`
    }
  },
  {
    name: 'script-flush',
    part: 'redis',
    async run (ctx) {
      const { room, master } = hotOwner(ctx)
      if (master === undefined) return 'none'
      await direct(master, async (r) => {
        // NOSCRIPT answers of this master between two flushes, counted when at least two users had
        // messages to the room on their way at the flush (sends that may go in different calls,
        // from different processes: what once reordered a room).
        const noscripts = async (): Promise<number> => Number(/errorstat_NOSCRIPT:count=(\d+)/.exec(String(await r.info('errorstats').catch(() => '')))?.[1] ?? 0)
        const until = Date.now() + 3000
        let before = await noscripts()
        while (Date.now() < until) {
          await r.script('FLUSH').catch(() => {})
          const twoInFlight = ctx.users.filter((u) => (u.pendingIn.get(room) ?? 0) > 0).length >= 2
          await sleep(15)
          const now = await noscripts()
          if (twoInFlight && now > before) ctx.seen.noscriptTwoInFlight += now - before
          before = now
        }
      })
      return `master ${master} of ${room}`
    }
  },
  {
    name: 'slot-migrate',
    part: 'redis',
    async run (ctx) {
      const { room, master, slot } = hotOwner(ctx)
      const to = ctx.topo.masters().find((p) => p !== master)
      if (master === undefined || to === undefined) return 'none'
      const [srcId, dstId] = [ctx.topo.redisCli(master, 'cluster', 'myid'), ctx.topo.redisCli(to, 'cluster', 'myid')]
      if (srcId === undefined || dstId === undefined) return 'none'
      await direct(to, async (r) => await r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', srcId))
      await direct(master, async (src) => {
        await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', dstId)
        // A few keys at a time, slowly: clients meet ASK and TRYAGAIN on the way.
        for (;;) {
          const keys = await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 5) as string[]
          if (keys.length === 0) break
          await src.call('MIGRATE', '127.0.0.1', to, '', 0, 5000, 'KEYS', ...keys)
          await sleep(100)
        }
      })
      for (const p of ctx.topo.masters()) ctx.topo.redisCli(p, 'cluster', 'setslot', String(slot), 'node', dstId)
      return `slot ${slot} of ${room}, ${master} to ${to}`
    }
  },
  {
    name: 'pubsub-kill',
    part: 'redis',
    async run (ctx) {
      for (const n of ctx.topo.redis) if (n.proc !== undefined && !n.paused) ctx.topo.redisCli(n.port, 'client', 'kill', 'type', 'pubsub')
      return 'every node'
    }
  },
  {
    name: 'pg-crash',
    part: 'pg',
    async run (ctx) {
      if (!ctx.topo.pgUp) return 'none'
      // Aimed at a moment when messages are on their way to be stored (up to 2 s to find one):
      // what a crash with commits in flight does to them is what this fault is for.
      const until = ctx.now() + 2000
      while (!ctx.users.some((u) => u.pendingSends > 0) && ctx.now() < until) await sleep(1)
      if (ctx.users.some((u) => u.pendingSends > 0)) ctx.seen.pgCrashesWithSendsInFlight++
      await ctx.topo.crashPostgres()
      await sleep(ctx.rng.int(3000, 10_000))
      await ctx.topo.startPostgres()
      return 'postgresql'
    }
  },
  {
    name: 'pg-terminate',
    part: 'pg',
    async run (ctx) {
      if (!ctx.topo.pgUp) return 'none'
      ctx.topo.terminateBackends()
      return 'every backend'
    }
  },
  {
    name: 'clients-cut',
    part: 'clients',
    async run (ctx) {
      const share = ctx.rng.int(10, 30) / 100
      const cut = ctx.users.filter(() => ctx.rng.chance(share))
      for (const u of cut) u.cut()
      return `${cut.length} clients`
    }
  },
  {
    name: 'net-latency',
    part: 'network',
    async run (ctx) {
      const s = liveServer(ctx)
      if (s === undefined) return 'none'
      const ms = ctx.rng.int(50, 300)
      const proxies = ctx.rng.chance(0.5) ? [...s.redis.values()] : [s.pg]
      for (const p of proxies) p.mode = { kind: 'latency', ms }
      await sleep(ctx.rng.int(3000, 6000))
      for (const p of proxies) p.mode = { kind: 'pass' }
      return `server ${s.index}'s ${proxies.length > 1 ? 'Redis' : 'PostgreSQL'} +${ms} ms`
    }
  },
  {
    name: 'net-blackhole',
    part: 'network',
    async run (ctx) {
      const s = liveServer(ctx)
      if (s === undefined) return 'none'
      const proxies = ctx.rng.chance(0.6) ? [...s.redis.values()] : [s.pg]
      for (const p of proxies) p.mode = { kind: 'blackhole' }
      await sleep(ctx.rng.int(1000, 4000))
      // What the black hole swallowed is gone: its connections are cut when it ends.
      for (const p of proxies) p.mode = { kind: 'reset' }
      for (const p of proxies) p.mode = { kind: 'pass' }
      return `server ${s.index}'s ${proxies.length > 1 ? 'Redis' : 'PostgreSQL'}`
    }
  },
  {
    name: 'net-reset',
    part: 'network',
    async run (ctx) {
      const s = liveServer(ctx)
      if (s === undefined) return 'none'
      const proxies = ctx.rng.chance(0.6) ? [...s.redis.values()] : [s.pg]
      for (const p of proxies) p.mode = { kind: 'reset' }
      await sleep(ctx.rng.int(300, 2000))
      for (const p of proxies) p.mode = { kind: 'pass' }
      return `server ${s.index}'s ${proxies.length > 1 ? 'Redis' : 'PostgreSQL'}`
    }
  }
]

/**
 * Runs faults from `from` until `to` (ms since the start): kinds in a seeded order that goes through
 * each before any comes again, at most two at once from different parts, a pause of 1 to 4 s
 * between starts and now and then a quiet window of 5 to 10 s. Resolves with every fault's record
 * once the last has ended.
 */
export async function runFaults (ctx: FaultContext, from: number, to: number, only?: Set<string>): Promise<FaultRecord[]> {
  const records: FaultRecord[] = []
  const running = new Map<Promise<void>, Part>()
  const kinds = FAULTS.filter((f) => only === undefined || only.has(f.name))
  let deck: Fault[] = []
  await sleep(Math.max(0, from - ctx.now()))
  while (ctx.now() < to && kinds.length > 0) {
    if (deck.length === 0) deck = ctx.rng.shuffle(kinds)
    const parts = new Set(running.values())
    const i = deck.findIndex((f) => !parts.has(f.part))
    if (running.size < 2 && i !== -1) {
      const fault = deck.splice(i, 1)[0]
      const start = ctx.now()
      const done = fault.run(ctx).then((target) => {
        records.push({ kind: fault.name, target, from: start, to: ctx.now() })
        ctx.log(`fault ${fault.name} on ${target}: ${((ctx.now() - start) / 1000).toFixed(1)} s`)
      }, (err: unknown) => {
        records.push({ kind: fault.name, target: `failed: ${(err as Error).message}`, from: start, to: ctx.now() })
        ctx.log(`fault ${fault.name} failed: ${(err as Error).message}`)
      }).finally(() => { running.delete(done) })
      running.set(done, fault.part)
    }
    await sleep(ctx.rng.chance(0.15) ? ctx.rng.int(5000, 10_000) : ctx.rng.int(1000, 4000))
  }
  await Promise.all(running.keys())
  return records.sort((a, b) => a.from - b.from)
}

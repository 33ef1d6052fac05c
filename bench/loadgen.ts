// The load generator: one child process, driven over IPC by bench/run.ts. It opens raw
// WebSocket clients (bench/raw-client.ts) against one server and runs one job:
//   fanout  rooms x perRoom clients; for each run: a publisher per room keeps `inFlight` messages
//           in flight (or sends at a fixed `rate` and records latency); reports deliveries/s and
//           the server's CPU per delivery (from /proc), and its own CPU use;
//   idle    opens clients spread over rooms and holds them until told to release;
//   setup   opens clients (into rooms of 50) and reports the server CPU spent per accepted, verified, joined one;
//   typing  one room of `members`: the server's CPU per second idle, with one message a second,
//           and with every member sending `typing` every 3 s (staggered);
//   costs   what Redis does per connection, per join, per message and per idle minute (from
//           INFO commandstats over every server of the deployment).
// Every loop is bounded in count and time.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { createSigner } from 'fast-jwt'
import { clientFrame, contentSeq, RawClient, type ClientHandlers, type Dialect } from './raw-client.js'
import { delta, snapshot, type RedisSnapshot } from './redis-stats.js'
import { bystanders, type BystandersJob } from './bystanders.js'
import { storm, type StormJob } from './storm.js'

const SECRET = process.env.BENCH_SECRET ?? 'bench-secret-bench-secret-bench-secret'
const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

export interface FanoutRun { name: string, inFlight?: number, rate?: number, warmupMs: number, durationMs: number }
export type Job =
  | { kind: 'fanout', port: number, dialect: Dialect, serverPid: number, rooms: number, perRoom: number, runs: FanoutRun[], ports?: number[], serverPids?: number[], redisUrl?: string }
  | { kind: 'costs', port: number, ports: number[], dialect: Dialect, redis: string, clients: number, rooms: number, messages: number, idleMs: number, processes: number }
  | { kind: 'idle', port: number, dialect: Dialect, clients: number, rooms: number, offset: number }
  | { kind: 'setup', port: number, dialect: Dialect, serverPid: number, clients: number, concurrency: number, defaultRoom?: boolean }
  | { kind: 'typing', port: number, dialect: Dialect, serverPid: number, members: number, durationMs: number }
  | StormJob
  | BystandersJob

const NO_REDIS: RedisSnapshot = { cpuUs: 0, memory: 0, callsByServer: [], commands: new Map(), busPublish: 0, busPublishShard: 0 }

/** What Redis has done so far, over every server of the deployment (nothing without one). */
async function redisNow (spec: string | undefined): Promise<RedisSnapshot> {
  return spec === undefined ? NO_REDIS : await snapshot(spec)
}

/** Server CPU time in µs (user + system), read from /proc. */
function serverCpu (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1e6 / CLK_TCK
}

function ownCpu (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Waiter { type: string, room?: string, resolve: () => void }

class Pool implements ClientHandlers {
  readonly dialect: Dialect
  readonly port: number
  /** Client i connects to ports[i % ports.length] (a cluster); default: port. */
  ports: number[] = []
  readonly clients: RawClient[] = []
  readonly waiters = new Map<RawClient, Waiter[]>()
  readonly tokens = new Map<RawClient, string>()
  /** Deliveries per room index. */
  delivered: number[] = []
  onDelivery: ((room: number, payload: Buffer | undefined) => void) | undefined
  /** Whether the server puts every client in `lobby` by itself. */
  defaultRoom = true

  constructor (port: number, dialect: Dialect) {
    this.port = port
    this.dialect = dialect
  }

  onMessage (client: RawClient, payload: Buffer | undefined): void {
    this.delivered[client.tag]++
    this.onDelivery?.(client.tag, payload)
  }

  onFrame (client: RawClient, frame: any): void {
    if (frame.type === 'eio-open') {
      client.sendText('40' + JSON.stringify({ token: this.tokens.get(client) }))
      return
    }
    const list = this.waiters.get(client)
    if (list === undefined) return
    const i = list.findIndex((w) => w.type === frame.type && (w.room === undefined || w.room === frame.room))
    if (i !== -1) list.splice(i, 1)[0].resolve()
  }

  onClose (): void {}

  wait (client: RawClient, type: string, room?: string): Promise<void> {
    return new Promise((resolve) => {
      let list = this.waiters.get(client)
      if (list === undefined) this.waiters.set(client, list = [])
      list.push({ type, room, resolve })
    })
  }

  request (client: RawClient, action: string, body: Record<string, unknown>): void {
    client.sendText(this.dialect === 'json'
      ? JSON.stringify({ action, ...body })
      : `42${JSON.stringify([action, body])}`)
  }

  /** Opens one client, waits for welcome and the default room, then joins `room` if another. */
  async open (index: number, room: string, tag: number): Promise<RawClient> {
    const token = sign({ sub: `user-${index}` })
    const path = this.dialect === 'json' ? `/chat?token=${token}` : '/socket.io/?EIO=4&transport=websocket'
    const port = this.ports.length === 0 ? this.port : this.ports[index % this.ports.length]
    const client = new RawClient(port, path, this.dialect, this)
    client.tag = tag
    this.tokens.set(client, token)
    const welcome = this.wait(client, 'welcome')
    const lobby = this.defaultRoom ? this.wait(client, 'joined', 'lobby') : undefined
    await client.opened()
    await welcome
    await lobby
    if (room !== 'lobby' || !this.defaultRoom) {
      const joined = this.wait(client, 'joined', room)
      this.request(client, 'join', { room })
      await joined
    }
    this.waiters.delete(client)
    this.clients.push(client)
    return client
  }

  /** Opens `count` clients, `concurrency` at a time, within `deadlineMs`. */
  async openMany (count: number, concurrency: number, roomOf: (i: number) => [string, number], offset = 0, deadlineMs = 120_000): Promise<void> {
    const deadline = Date.now() + deadlineMs
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < count) {
        if (Date.now() > deadline) throw new Error(`opened only ${this.clients.length} of ${count} clients in time`)
        const i = next++
        const [room, tag] = roomOf(i)
        await this.open(offset + i, room, tag)
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  }

  closeAll (): void {
    for (const c of this.clients) c.close()
    this.clients.length = 0
  }
}

function content (seq: number): string {
  const head = `${seq}:`
  return head + 'x'.repeat(64 - head.length)
}

async function fanout (job: Extract<Job, { kind: 'fanout' }>): Promise<unknown[]> {
  const pool = new Pool(job.port, job.dialect)
  pool.ports = job.ports ?? []
  const pids = job.serverPids ?? [job.serverPid]
  const cpu = (): number => pids.reduce((sum, pid) => sum + serverCpu(pid), 0)
  pool.delivered = new Array(job.rooms).fill(0)
  const roomName = (r: number) => job.rooms === 1 ? 'lobby' : `room-${r}`
  await pool.openMany(job.rooms * job.perRoom, 50, (i) => [roomName(i % job.rooms), i % job.rooms])
  const publishers: RawClient[] = []
  for (const c of pool.clients) if (publishers[c.tag] === undefined) publishers[c.tag] = c
  const sizes = new Array(job.rooms).fill(job.perRoom)
  const results: unknown[] = []
  let seq = 0

  for (const run of job.runs) {
    const sent = new Array(job.rooms).fill(0)
    const base = [...pool.delivered]
    const frameFor = (r: number, s: number) => clientFrame(job.dialect === 'json'
      ? JSON.stringify({ action: 'message', room: roomName(r), content: content(s) })
      : `42${JSON.stringify(['message', { room: roomName(r), content: content(s) }])}`)
    const outstanding = (r: number) => sent[r] - Math.floor((pool.delivered[r] - base[r]) / sizes[r])
    let stopped = false
    const result: Record<string, unknown> = { name: run.name }

    if (run.inFlight !== undefined) {
      const inFlight = run.inFlight
      const pump = (r: number): void => {
        if (stopped) return
        const p = publishers[r]
        let n = inFlight - outstanding(r)
        if (n <= 0) return
        p.socket.cork()
        while (n-- > 0) { p.send(frameFor(r, seq++)); sent[r]++ }
        p.socket.uncork()
      }
      pool.onDelivery = (r) => { if ((pool.delivered[r] - base[r]) % sizes[r] === 0) pump(r) }
      for (let r = 0; r < job.rooms; r++) pump(r)
    } else {
      // Fixed rate, one message per tick to room 0, latency of every delivery.
      const rate = run.rate!
      const capacity = Math.ceil(rate * (run.warmupMs + run.durationMs) / 1000) + 10
      const sentAt = new Float64Array(capacity)
      const latencies = new Float64Array(capacity * sizes[0])
      let count = 0
      let windowFirst = Infinity
      let windowLast = -1
      const first = seq
      for (const c of pool.clients) c.wantPayload = true
      pool.onDelivery = (_r, payload) => {
        const s = contentSeq(payload!) - first
        if (s >= 0 && s >= windowFirst && s <= windowLast) latencies[count++] = performance.now() - sentAt[s]
      }
      const timer = setInterval(() => {
        if (stopped) return
        const s = seq - first
        if (s >= capacity) return
        sentAt[s] = performance.now()
        publishers[0].send(frameFor(0, seq++))
        sent[0]++
      }, 1000 / rate)
      await sleep(run.warmupMs)
      windowFirst = seq - first
      windowLast = Infinity
      await sleep(run.durationMs)
      windowLast = seq - first - 1
      stopped = true
      clearInterval(timer)
      await drain(pool, sent, base, sizes)
      for (const c of pool.clients) c.wantPayload = false
      const sorted = latencies.subarray(0, count).sort()
      const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))]
      Object.assign(result, { samples: count, p50: at(0.5), p99: at(0.99), max: sorted[count - 1] })
      results.push(result)
      continue
    }

    await sleep(run.warmupMs)
    const r0 = await redisNow(job.redisUrl)
    const t0 = performance.now(); const s0 = cpu(); const l0 = ownCpu()
    const d0 = pool.delivered.reduce((a, b) => a + b, 0)
    await sleep(run.durationMs)
    const t1 = performance.now(); const s1 = cpu(); const l1 = ownCpu()
    const d1 = pool.delivered.reduce((a, b) => a + b, 0)
    const r1 = await redisNow(job.redisUrl)
    stopped = true
    await drain(pool, sent, base, sizes)
    const wallUs = (t1 - t0) * 1000
    const r = delta(r0, r1)
    const mean = r.byServer.reduce((a, b) => a + b, 0) / Math.max(1, r.byServer.length)
    Object.assign(result, {
      deliveries: d1 - d0,
      perSecond: (d1 - d0) / (wallUs / 1e6),
      cpuPerDelivery: (s1 - s0) / (d1 - d0),
      serverUtil: (s1 - s0) / wallUs,
      loadgenUtil: (l1 - l0) / wallUs,
      redisPerDelivery: r.cpuUs / (d1 - d0),
      redisCommandsPerMessage: r.calls / Math.max(1, sent.reduce((a, b) => a + b, 0)),
      busPublish: r.busPublish,
      busPublishShard: r.busPublishShard,
      busiestShard: r.byServer.length > 1 ? Math.max(...r.byServer) / mean : 1
    })
    results.push(result)
  }
  pool.onDelivery = undefined
  pool.closeAll()
  return results
}

/** Waits until everything sent has reached every member, for at most 10 s. */
async function drain (pool: Pool, sent: number[], base: number[], sizes: number[]): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (sent.every((s, r) => pool.delivered[r] - base[r] >= s * sizes[r])) return
    await sleep(20)
  }
  throw new Error('the room did not drain within 10 s')
}

/**
 * Redis per connection (with its default-room join), per join, per message, per idle minute per
 * process: commands (those inside scripts included, as INFO counts them) and Redis CPU, less what
 * Redis spends when nothing happens (measured first, for as long).
 */
async function costs (job: Extract<Job, { kind: 'costs' }>): Promise<Record<string, unknown>> {
  const pool = new Pool(job.port, job.dialect)
  pool.ports = job.ports
  pool.delivered = new Array(job.rooms).fill(0)
  const out: Record<string, unknown> = {}
  let baseline = 0 // Redis CPU µs per ms with the processes idle and no clients
  const measure = async (name: string | undefined, per: number, work: () => Promise<void>): Promise<number> => {
    const a = await snapshot(job.redis)
    const t0 = performance.now()
    await work()
    // What was set off but not awaited (announcements, bookkeeping) lands within this.
    await sleep(300)
    const d = delta(a, await snapshot(job.redis))
    const ms = performance.now() - t0
    if (name !== undefined) out[name] = { commands: d.calls / per, cpuUs: Math.max(0, d.cpuUs - baseline * ms) / per, bytes: d.memory / per, top: d.top }
    return d.cpuUs / ms
  }
  baseline = await measure(undefined, 1, async () => { await sleep(5000) })
  await measure('connection', job.clients, async () => {
    await pool.openMany(job.clients, 50, () => ['lobby', 0])
  })
  const idle = await snapshot(job.redis)
  await sleep(job.idleMs)
  const idleDelta = delta(idle, await snapshot(job.redis))
  const minutes = job.processes * job.idleMs / 60_000
  out['idle minute per process'] = { commands: idleDelta.calls / minutes, cpuUs: idleDelta.cpuUs / minutes, top: idleDelta.top }
  await measure('join', job.clients, async () => {
    await Promise.all(pool.clients.map(async (c, i) => {
      const room = `extra-${i % job.rooms}`
      const joined = pool.wait(c, 'joined', room)
      pool.request(c, 'join', { room })
      await joined
    }))
  })
  const sender = pool.clients[0]
  await measure('message', job.messages, async () => {
    for (let i = 0; i < job.messages; i += 32) {
      const acks = []
      for (let j = i; j < Math.min(job.messages, i + 32); j++) {
        acks.push(pool.wait(sender, 'ack'))
        pool.request(sender, 'message', { room: 'extra-0', content: content(j), ref: `m${j}` })
      }
      await Promise.all(acks)
    }
  })
  pool.closeAll()
  return out
}

/**
 * Server CPU per second in one room of `members`: idle (the lower of a measure before and one
 * after, once the connections settled), with one message a second to the room, and with every
 * member sending `typing` every 3 s (staggered over the 3 s, as the typed client's debounce does).
 */
async function typing (job: Extract<Job, { kind: 'typing' }>): Promise<Record<string, number>> {
  const pool = new Pool(job.port, job.dialect)
  pool.delivered = [0]
  await pool.openMany(job.members, 50, () => ['lobby', 0])
  const measure = async (): Promise<number> => {
    const s0 = serverCpu(job.serverPid); const t0 = performance.now()
    await sleep(job.durationMs)
    return (serverCpu(job.serverPid) - s0) / ((performance.now() - t0) / 1000)
  }
  await sleep(5000)
  const idleBefore = await measure()
  const timers: NodeJS.Timeout[] = []
  pool.clients.forEach((c, i) => {
    timers.push(setTimeout(() => {
      pool.request(c, 'typing', { room: 'lobby', typing: true })
      timers.push(setInterval(() => pool.request(c, 'typing', { room: 'lobby', typing: true }), 3000))
    }, Math.floor(i * 3000 / pool.clients.length)))
  })
  await sleep(4000)
  const typingCpu = await measure()
  for (const t of timers) clearTimeout(t)
  // Every entry ends by itself (typingTtl) before the next measure.
  await sleep(8000)
  let n = 0
  const messages = setInterval(() => pool.request(pool.clients[0], 'message', { room: 'lobby', content: content(n++) }), 1000)
  await sleep(1000)
  const message = await measure()
  clearInterval(messages)
  await sleep(2000)
  const idleAfter = await measure()
  pool.closeAll()
  return { idle: Math.min(idleBefore, idleAfter), message, typing: typingCpu }
}

async function main (): Promise<void> {
  const job = await new Promise<Job>((resolve) => process.once('message', (m) => resolve(m as Job)))
  if (job.kind === 'fanout') {
    process.send!({ type: 'result', results: await fanout(job) })
  } else if (job.kind === 'costs') {
    process.send!({ type: 'result', results: [await costs(job)] })
  } else if (job.kind === 'storm') {
    process.send!({ type: 'result', results: [await storm(job)] })
  } else if (job.kind === 'bystanders') {
    process.send!({ type: 'result', results: [await bystanders(job)] })
  } else if (job.kind === 'typing') {
    process.send!({ type: 'result', results: [await typing(job)] })
  } else if (job.kind === 'idle') {
    const pool = new Pool(job.port, job.dialect)
    pool.delivered = new Array(job.rooms).fill(0)
    await pool.openMany(job.clients, 200, (i) => [`room-${(job.offset + i) % job.rooms}`, (job.offset + i) % job.rooms], job.offset)
    process.send!({ type: 'held', clients: pool.clients.length, cpuUs: ownCpu() })
    await new Promise((resolve) => process.once('message', resolve))
    pool.closeAll()
  } else {
    // Rooms of 50 (presence on: every member hears of every joiner), as users' rooms are.
    const rooms = Math.max(1, Math.ceil(job.clients / 50))
    const pool = new Pool(job.port, job.dialect)
    pool.defaultRoom = job.defaultRoom !== false
    pool.delivered = new Array(rooms).fill(0)
    const s0 = serverCpu(job.serverPid); const t0 = performance.now(); const l0 = ownCpu()
    await pool.openMany(job.clients, job.concurrency, (i) => [`room-${i % rooms}`, i % rooms])
    const s1 = serverCpu(job.serverPid); const t1 = performance.now(); const l1 = ownCpu()
    pool.closeAll()
    const wallUs = (t1 - t0) * 1000
    process.send!({
      type: 'result',
      results: [{ name: 'D', clients: job.clients, cpuPerConnection: (s1 - s0) / job.clients, serverUtil: (s1 - s0) / wallUs, loadgenUtil: (l1 - l0) / wallUs }]
    })
  }
  process.disconnect()
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})

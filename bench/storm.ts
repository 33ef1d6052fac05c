// The storm scenario's clients: N clients in rooms with history while the server publishes at a
// steady rate; then every socket is cut at once (the server stays up) and every client comes back
// as the typed client does: its default backoff (honouring Retry-After), a rejoin with `since`.
// Each client checks its room's seqs: a gap is a lost message, a seq seen twice a duplicate. The
// plugin's clients also resume the default room as the typed client does: when the server's own
// join of it shows something was missed (BENCH_STORM_RESUME_DEFAULT=always: at once, as before).
// The phases (everyone in and settled, the cut, all recovered) go to the orchestrator, which tells
// the bystanders (bystanders.ts) timing deliveries in a process of their own.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { createSigner } from 'fast-jwt'
import { backoffDelay } from '../lib/client/socket.js'
import { RawClient, type ClientHandlers, type Dialect } from './raw-client.js'
import { SECRET } from './servers/control.js'
import { delta, snapshot, type RedisSnapshot } from './redis-stats.js'

/**
 * `cut`: every socket cut at once, the server up; `kill`: the server is killed (SIGKILL) and
 * started again on the same port by the orchestrator (on Redis, whose history outlives it).
 */
export interface StormJob { kind: 'storm', mode: 'cut' | 'kill', dialect: Dialect, port: number, serverPid: number, clients: number, rooms: number, settleMs: number, redis?: string }

export interface StormResult {
  name: 'storm'
  clients: number
  /** Seconds from the cut until every client had `recovered: true` in its room (NaN: not all did). */
  recoverySeconds: number
  recovered: number
  /** Joins with since answered recovered: false. */
  notRecovered: number
  lost: number
  duplicated: number
  /** Messages received in the clients' rooms and checked, from the first join to the end. */
  checked: number
  /** Clients with at least one lost or duplicated message. */
  clientsWithLoss: number
  clientsWithDuplicates: number
  refused: number
  retries: number
  peakServerCpu: number
  serverCpuSeconds: number
  peakRssMiB: number
  /** On Redis, from the restart until every client recovered: Redis's CPU and commands. */
  redisCpuSeconds?: number
  redisCalls?: number
  redisTop?: string
}

const sign = createSigner({ key: SECRET, expiresIn: 3_600_000 })
const CLK_TCK = 100

function cpuOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
  return m === null ? 0 : Number(m[1]) / 1024
}

interface Member {
  i: number
  room: string
  token: string
  seq: number
  epoch: string
  /** Since the cut: its room's rejoin said recovered. */
  recovered: boolean
  lost: number
  dup: number
  attempt: number
  /** Socket.IO: the session's pid and the last offset (connection-state recovery). */
  pid?: string
  offset?: string
  /** Socket.IO: joined, its first message still to set `seq`. */
  waitingFirst?: boolean
  client?: RawClient
  resolveOpen?: () => void
  /** The default room's seq and epoch from the join at connect (the plugin): resumed too. */
  lobby?: { seq: number, epoch: string }
  /**
   * The default room's seqs received (when the server sends messages there, BENCH_STORM_LOBBY):
   * checked as a set, since live ones may come before the resume's replay on a new socket.
   */
  lobbySeen?: Set<number>
  /** Reconnected: the server's join of the default room is awaited, to resume it only if something was missed. */
  lobbyJoinPending?: boolean
}

/** The last seq of the default room up to which this client has every message. */
function lobbyContiguous (m: Member): number {
  let seq = m.lobby!.seq
  while (m.lobbySeen?.has(seq + 1) === true) seq++
  return seq
}

/** The default room's messages a client never got, between its first join and the last it saw. */
function lobbyLost (m: Member): number {
  if (m.lobby === undefined || m.lobbySeen === undefined || m.lobbySeen.size === 0) return 0
  let last = m.lobby.seq
  for (const seq of m.lobbySeen) if (seq > last) last = seq
  return last - m.lobby.seq - m.lobbySeen.size
}

/** Tells the orchestrator (and through it the bystanders) where the storm is. */
function phase (name: 'settled' | 'cut' | 'recovered'): void {
  process.send?.({ type: 'phase', phase: name })
}

export async function storm (job: StormJob): Promise<StormResult> {
  const members: Member[] = Array.from({ length: job.clients }, (_, i) => ({ i, room: `storm-${i % job.rooms}`, token: sign({ sub: `user-${i}` }), seq: -1, epoch: '', recovered: false, lost: 0, dup: 0, attempt: 0 }))
  let cutAt = 0
  let cut = false
  let recovered = 0
  let notRecovered = 0
  let refused = 0
  let retries = 0
  let allRecoveredAt = 0
  let checked = 0
  let done: () => void = () => {}
  const allDone = new Promise<void>((resolve) => { done = resolve })

  const recoveredNow = (m: Member): void => {
    if (m.recovered) return
    m.recovered = true
    if (++recovered === members.length) { allRecoveredAt = performance.now(); phase('recovered'); done() }
  }

  const checkSeq = (m: Member, seq: number, epoch: string): void => {
    checked++
    if (epoch !== m.epoch) { m.lost++; m.epoch = epoch; m.seq = seq; return }
    if (seq === m.seq + 1) m.seq = seq
    else if (seq <= m.seq) m.dup++
    else { m.lost += seq - m.seq - 1; m.seq = seq }
  }

  const sio = job.dialect === 'socketio'
  const handlers = (m: Member): ClientHandlers => ({
    onMessage (c, payload) {
      if (sio) {
        // 42["message",{...},"<offset>"]: the offset is what a recovery resumes from.
        const [, f, offset] = JSON.parse(payload!.toString().slice(2)) as [string, { room: string, seq: number, epoch: string }, string | undefined]
        if (offset !== undefined) m.offset = offset
        if (f.room !== m.room) return
        if (m.waitingFirst === true) { m.waitingFirst = false; m.seq = f.seq; m.epoch = f.epoch; return }
        if (m.seq >= 0) checkSeq(m, f.seq, f.epoch)
        return
      }
      const f = JSON.parse(payload!.toString()) as { room: string, seq: number, epoch: string }
      if (f.room === 'lobby' && m.lobby !== undefined && f.epoch === m.lobby.epoch) {
        checked++
        const seen = m.lobbySeen ??= new Set()
        if (seen.has(f.seq)) m.dup++
        else seen.add(f.seq)
        return
      }
      if (f.room !== m.room || m.seq < 0) return
      checkSeq(m, f.seq, f.epoch)
    },
    onFrame (c, f) {
      if (sio) {
        if (f.type === 'joined' && f.room === m.room) {
          m.resolveOpen?.()
        } else if (f.type === 'eio-open') {
          c.sendText('40' + JSON.stringify(m.pid === undefined ? { token: m.token } : { token: m.token, pid: m.pid, offset: m.offset }))
        } else if (f.type === 'sio-connected') {
          const again = m.pid !== undefined
          const recovers = again && f.pid === m.pid
          if (f.pid !== undefined) m.pid = f.pid
          m.attempt = 0
          const join = `42${JSON.stringify(['join', { room: m.room }])}`
          if (!again) {
            m.waitingFirst = true
            c.sendText(join)
          } else if (recovers) {
            recoveredNow(m)
          } else {
            // Not recovered: what it missed is gone; it joins again and counts the gap.
            notRecovered++
            c.sendText(join)
          }
        }
        return
      }
      if (f.type === 'joined' && f.room === 'lobby' && m.lobby === undefined) m.lobby = { seq: f.seq, epoch: f.epoch }
      if (f.type === 'joined' && f.room === 'lobby' && m.lobbyJoinPending === true && f.ref === undefined) {
        m.lobbyJoinPending = false
        const seq = lobbyContiguous(m)
        if (f.epoch !== m.lobby!.epoch || f.seq !== seq) c.sendText(JSON.stringify({ action: 'join', room: 'lobby', since: { seq, epoch: m.lobby!.epoch } }))
      }
      if (f.type !== 'joined' || f.room !== m.room) return
      if (m.seq < 0) {
        m.seq = f.seq
        m.epoch = f.epoch
        m.resolveOpen?.()
        return
      }
      if (f.recovered === true) recoveredNow(m)
      else notRecovered++
    },
    onClose (c) {
      if (c !== m.client || !cut) return
      m.client = undefined
      schedule(m, undefined)
    }
  })

  const connect = (m: Member): void => {
    const c = new RawClient(job.port, sio ? '/socket.io/?EIO=4&transport=websocket' : `/chat?token=${m.token}`, job.dialect, handlers(m))
    c.wantPayload = true
    m.client = c
    c.opened().then(() => {
      if (sio) return // the Engine.IO open, then CONNECT (handlers)
      m.attempt = 0
      // The typed client resumes every room it was in; the default room (named by welcome) once
      // the server's own join of it shows something was missed.
      // BENCH_STORM_RESUME_DEFAULT=always: as the typed client did before, resume it at once.
      if (m.lobby !== undefined && process.env.BENCH_STORM_RESUME_DEFAULT === 'always') c.sendText(JSON.stringify({ action: 'join', room: 'lobby', since: { seq: lobbyContiguous(m), epoch: m.lobby.epoch } }))
      else if (m.lobby !== undefined) m.lobbyJoinPending = true
      c.sendText(m.seq < 0
        ? JSON.stringify({ action: 'join', room: m.room })
        : JSON.stringify({ action: 'join', room: m.room, since: { seq: m.seq, epoch: m.epoch } }))
    }, (err: Error) => {
      if (m.client === c) m.client = undefined
      const head = err.message
      const status = /HTTP\/1\.1 (\d{3})/.exec(head)?.[1]
      const after = /retry-after: (\d+)/i.exec(head)?.[1]
      if (status !== undefined) refused++
      schedule(m, after === undefined ? undefined : Number(after) * 1000)
    })
  }

  // The typed client's defaults: 250 ms doubling to 10 s, +/- 25%; never sooner than Retry-After.
  const schedule = (m: Member, retryAfter: number | undefined): void => {
    if (m.attempt > 0) retries++
    const delay = backoffDelay(m.attempt++, {}, retryAfter)
    setTimeout(() => connect(m), delay)
  }

  // Everyone in, 200 at a time.
  let next = 0
  await Promise.all(Array.from({ length: 200 }, async () => {
    while (next < members.length) {
      const m = members[next++]
      await new Promise<void>((resolve) => { m.resolveOpen = resolve; connect(m) })
    }
  }))
  phase('settled')
  await new Promise((resolve) => setTimeout(resolve, job.settleMs))

  // The cut: every socket at once, or the server killed.
  let serverPid = job.serverPid
  let redis0: RedisSnapshot | undefined
  const cpuBefore = cpuOf(serverPid)
  let peakCpu = 0
  let peakRss = rssMiB(serverPid)
  let lastCpu = cpuBefore
  let lastAt = performance.now()
  const sampler = setInterval(() => {
    try {
      const now = performance.now()
      const c = cpuOf(serverPid)
      peakCpu = Math.max(peakCpu, (c - lastCpu) / ((now - lastAt) / 1000))
      peakRss = Math.max(peakRss, rssMiB(serverPid))
      lastCpu = c
      lastAt = now
    } catch {} // the killed server, before its successor
  }, 250)
  cut = true
  let pid = job.serverPid
  let cpu0 = cpuBefore
  if (job.mode === 'cut') {
    cutAt = performance.now()
    phase('cut')
    for (const m of members) m.client?.socket.destroy()
  } else {
    // The orchestrator kills the server and starts it again; the clock starts when it listens.
    const restarted = new Promise<number>((resolve) => process.on('message', (msg: { type?: string, pid?: number }) => { if (msg?.type === 'restarted') resolve(msg.pid!) }))
    process.send!({ type: 'kill' })
    pid = await restarted
    if (job.redis !== undefined) redis0 = await snapshot(job.redis)
    cutAt = performance.now()
    cpu0 = cpuOf(pid)
    lastCpu = cpu0
    serverPid = pid
  }
  const deadline = setTimeout(done, 120_000)
  await allDone
  clearTimeout(deadline)
  const cpu1 = cpuOf(pid)
  const redis = redis0 === undefined ? undefined : delta(redis0, await snapshot(job.redis!))
  // Live messages after the storm, still checked.
  await new Promise((resolve) => setTimeout(resolve, job.settleMs))
  clearInterval(sampler)
  cut = false
  for (const m of members) m.client?.close()
  for (const m of members) m.lost += lobbyLost(m)
  return {
    name: 'storm',
    clients: members.length,
    recoverySeconds: allRecoveredAt === 0 ? NaN : (allRecoveredAt - cutAt) / 1000,
    recovered,
    notRecovered,
    lost: members.reduce((s, m) => s + m.lost, 0),
    duplicated: members.reduce((s, m) => s + m.dup, 0),
    checked,
    clientsWithLoss: members.filter((m) => m.lost > 0).length,
    clientsWithDuplicates: members.filter((m) => m.dup > 0).length,
    refused,
    retries,
    peakServerCpu: peakCpu,
    serverCpuSeconds: cpu1 - cpu0,
    peakRssMiB: peakRss,
    ...(redis === undefined ? {} : { redisCpuSeconds: redis.cpuUs / 1e6, redisCalls: redis.calls, redisTop: redis.top })
  }
}

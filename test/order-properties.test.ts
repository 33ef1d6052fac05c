// Order through every retry, as properties (fast-check's scheduler decides when each command
// reaches the backend and when its answer comes back):
// - the Redis adapter on a real Redis, through a client that answers NOSCRIPT, sends a command
//   late (a redirect, TRYAGAIN, a resend after a reconnect) or runs it and loses the answer (ioredis
//   then sends it again): per room, messages get dense seqs in the order they were asked, each once
//   (refs or not), and joins and leaves end as the last one asked;
// - the memory adapter, the same workload;
// - the store path (StoreLink), against a store that commits late, fails, or commits and loses the
//   answer: a room's commits and its hand-overs to the adapter keep the order they were asked in.
import fc from 'fast-check'
import t from 'tap'
import Redis from 'ioredis'
import type { ChatAdapter, StoredFrame } from '../lib/adapter/contract.js'
import { memoryAdapter, redisAdapter } from '../lib/index.js'
import { messageDraft } from '../lib/core/message.js'
import { StoreLink } from '../lib/core/store-link.js'
import { FST_CHAT_UNAVAILABLE } from '../lib/errors.js'
import type { ChatStore, StoreMessage } from '../lib/store/contract.js'
import { fakeNode, type FakeNode } from './adapter-contract.js'
import { dropPrefix, REDIS_URL, redisReady, testPrefix } from './redis-helpers.js'

type Op =
  | { kind: 'message', room: string, sender: string, ref: boolean }
  | { kind: 'join' | 'leave', room: string, client: string }

const ROOMS = ['r1', 'r2']
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('message' as const), room: fc.constantFrom(...ROOMS), sender: fc.constantFrom('a', 'b'), ref: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('join' as const, 'leave' as const), room: fc.constantFrom(...ROOMS), client: fc.constantFrom('c1', 'c2') }) }
)
/** The ops, in turns: a turn's ops are asked together (one event-loop turn), turns one after another. */
const turns = fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 })

type Fault = 'none' | 'noscript' | 'late' | 'lost'
const faults = fc.array(fc.constantFrom<Fault>('none', 'noscript', 'late', 'lost'), { minLength: 1, maxLength: 12 })

/**
 * The real client, but each script call goes through the scheduler and one of the faults, in turn:
 * NOSCRIPT without running; run later (a redirect or a resend before it ran); or run, lose the
 * answer, and run again (ioredis resends an unanswered command after a reconnect). Calmed, it is the
 * real client (to read what was done).
 */
function faultyClient (real: Redis, s: fc.Scheduler, plan: Fault[]): { client: Redis, calm: () => void } {
  let n = 0
  let calm = false
  const call = async (name: 'evalsha' | 'eval', args: unknown[]): Promise<unknown> => {
    const send = async (): Promise<unknown> => await (real[name] as (...a: unknown[]) => Promise<unknown>).apply(real, args)
    if (calm) return await send()
    const fault = plan[n++ % plan.length]
    await s.schedule(Promise.resolve(), `${name} ${fault}`)
    if (fault === 'noscript' && name === 'evalsha') throw new Error('NOSCRIPT No matching script. Please use EVAL.')
    if (fault === 'late') await s.schedule(Promise.resolve(), 'late')
    if (fault === 'lost') {
      await send()
      await s.schedule(Promise.resolve(), 'resend')
    }
    return await send()
  }
  const client = new Proxy(real, {
    get (target, prop) {
      if (prop === 'evalsha' || prop === 'eval') return async (...args: unknown[]) => await call(prop, args)
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  return { client, calm: () => { calm = true } }
}

/** Runs the ops in turns against an adapter, driving the scheduler until every request settled. */
async function drive (s: fc.Scheduler | undefined, adapter: ChatAdapter, node: FakeNode, plan: Op[][]): Promise<{ sent: Map<string, string[]>, lastOp: Map<string, 'join' | 'leave'> }> {
  const sent = new Map<string, string[]>() // room\nsender -> draft ids in the order asked
  const lastOp = new Map<string, 'join' | 'leave'>()
  const pending: Array<Promise<unknown>> = []
  let settled = 0
  let i = 0
  for (const turn of plan) {
    for (const o of turn) {
      let p: Promise<unknown>
      if (o.kind === 'message') {
        const id = `${o.sender}-${i++}`
        const draft = messageDraft(o.room, { from: `${node.id}.${o.sender}`, userId: o.sender }, id, undefined, o.ref ? id : undefined, Date.now(), id as ReturnType<typeof crypto.randomUUID>)
        const key = `${o.room}\n${o.sender}`
        sent.set(key, [...sent.get(key) ?? [], id])
        p = adapter.publishMessage(o.room, draft)
      } else {
        const member = { clientId: `${node.id}.${o.client}`, userId: o.client, joinedAt: ++i }
        lastOp.set(`${o.room}\n${member.clientId}`, o.kind)
        if (o.kind === 'join') {
          if (!node.membership.has(o.room, member.clientId)) node.membership.add(o.room, member)
          p = adapter.join(o.room, member)
        } else {
          node.membership.remove(o.room, member.clientId)
          p = adapter.leave(o.room, member)
        }
      }
      pending.push(p.finally(() => { settled++ }))
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  const deadline = Date.now() + 5000
  while (settled < pending.length) {
    if (Date.now() > deadline) throw new Error(`stuck: ${settled}/${pending.length} settled, ${s?.count()} scheduled, plan ${JSON.stringify(plan)}`)
    if (s !== undefined && s.count() > 0) await s.waitOne()
    else await new Promise((resolve) => setImmediate(resolve))
  }
  await Promise.all(pending)
  return { sent, lastOp }
}

/** What the property checks once the ops are done: seqs dense, each message once, each sender's in order, membership as last asked. */
async function check (adapter: ChatAdapter, node: FakeNode, { sent, lastOp }: Awaited<ReturnType<typeof drive>>): Promise<boolean> {
  for (const room of ROOMS) {
    const { messages } = await adapter.history(room, { limit: 100 })
    const frames = messages.map((m) => JSON.parse(m) as { id: string, seq: number, userId: string })
    if (frames.some((f, k) => f.seq !== k + 1)) throw new Error(`${room}: seqs not dense: ${frames.map((f) => f.seq).join(',')}`)
    for (const sender of ['a', 'b']) {
      const got = frames.filter((f) => f.userId === sender).map((f) => f.id)
      const want = sent.get(`${room}\n${sender}`) ?? []
      if (got.join() !== want.join()) throw new Error(`${room}: ${sender}'s messages ${got.join()} but asked ${want.join()}`)
    }
    const members = new Set((await adapter.members(room, { limit: 100 })).members.map((m) => m.clientId))
    for (const [key, last] of lastOp) {
      const [r, clientId] = key.split('\n')
      if (r === room && members.has(clientId) !== (last === 'join')) throw new Error(`${room}: ${clientId} should be ${last === 'join' ? 'in' : 'out'}`)
    }
  }
  return true
}

t.test('the Redis adapter: a room\'s order through NOSCRIPT, late commands and lost answers', async (t) => {
  if (!await redisReady(t)) return
  const real = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  real.on('error', () => {})
  t.teardown(() => real.disconnect())
  await fc.assert(fc.asyncProperty(fc.scheduler(), turns, faults, async (s, plan, fault) => {
    const prefix = testPrefix()
    const node = { ...fakeNode(), history: { size: 500, ttl: 60_000, maxBytes: 1 << 20 } }
    const faulty = faultyClient(real, s, fault)
    const adapter = await redisAdapter({ client: faulty.client, prefix, heartbeatInterval: 60_000, nodeTimeout: 120_000, requestTimeout: 60_000 })(node)
    try {
      const done = await drive(s, adapter, node, plan)
      faulty.calm()
      return await check(adapter, node, done)
    } finally {
      await adapter.close()
      await dropPrefix(prefix)
    }
  }), { numRuns: 60 })
  t.pass('held on every run')
})

t.test('the memory adapter: the same workload, the same properties', async (t) => {
  await fc.assert(fc.asyncProperty(turns, async (plan) => {
    const node = { ...fakeNode(), history: { size: 500, ttl: 60_000, maxBytes: 1 << 20 } }
    const adapter = await memoryAdapter()(node)
    try {
      return await check(adapter, node, await drive(undefined, adapter, node, plan))
    } finally {
      await adapter.close()
    }
  }), { numRuns: 100 })
  t.pass('held on every run')
})

type StoreFault = 'none' | 'late' | 'fail' | 'lost'

t.test('the store path: commits and hand-overs keep each room\'s order, whatever the store answers', async (t) => {
  await fc.assert(fc.asyncProperty(fc.scheduler(), turns, fc.array(fc.constantFrom<StoreFault>('none', 'late', 'fail', 'lost'), { minLength: 1, maxLength: 8 }), async (s, plan, storeFaults) => {
    // A store kept in memory: seqs per room, in the order appends run; an append may come late,
    // fail before committing, or commit and fail (its answer lost).
    const committed = new Map<string, string[]>()
    let n = 0
    const store = {
      name: 'simulated',
      async append (messages: StoreMessage[]) {
        const fault = storeFaults[n++ % storeFaults.length]
        await s.schedule(Promise.resolve(), `append ${fault}`)
        if (fault === 'late') await s.schedule(Promise.resolve(), 'late')
        if (fault === 'fail') throw new FST_CHAT_UNAVAILABLE('the database is away')
        const results = messages.map((m) => {
          const list = committed.get(m.room) ?? []
          committed.set(m.room, [...list, m.id])
          return { status: 'sent' as const, id: m.id, seq: list.length + 1, epoch: 'E' }
        })
        if (fault === 'lost') throw new FST_CHAT_UNAVAILABLE('connection lost after commit')
        return results
      }
    } as unknown as ChatStore
    const handed = new Map<string, number[]>()
    const adapter = {
      // Recorded as asked (the adapter keeps the order it is asked in: room-lane.ts), answered later.
      async publishStored (room: string, _epoch: string, frames: StoredFrame[]) {
        handed.set(room, [...handed.get(room) ?? [], ...frames.map((f) => f.seq)])
        await s.schedule(Promise.resolve(), 'publishStored')
      }
    } as unknown as ChatAdapter
    const silent = { warn () {}, error () {}, info () {}, debug () {} } as any
    const link = new StoreLink(store, () => adapter, 60_000, silent)
    const asked = new Map<string, string[]>()
    const acked = new Map<string, string[]>()
    const pending: Array<Promise<unknown>> = []
    let settled = 0
    let i = 0
    for (const turn of plan) {
      for (const o of turn) {
        if (o.kind !== 'message') continue
        const id = `${o.sender}-${i++}`
        const message = { room: o.room, id, userId: o.sender, from: o.sender, content: id, timestamp: 0 }
        asked.set(o.room, [...asked.get(o.room) ?? [], id])
        const draft = messageDraft(o.room, { from: o.sender, userId: o.sender }, id, undefined, undefined, 0, id as ReturnType<typeof crypto.randomUUID>)
        pending.push(link.commit(message, draft).then(() => { acked.set(o.room, [...acked.get(o.room) ?? [], id]) }, () => {}).finally(() => { settled++ }))
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    while (settled < pending.length) {
      if (s.count() > 0) await s.waitOne()
      else await new Promise((resolve) => setImmediate(resolve))
    }
    for (const room of ROOMS) {
      const order = asked.get(room) ?? []
      const kept = committed.get(room) ?? []
      // Committed in the order asked (a failed one may be missing; nothing overtakes).
      const positions = kept.map((id) => order.indexOf(id))
      if (positions.some((p, k) => k > 0 && p <= positions[k - 1])) throw new Error(`${room}: committed ${kept.join()} but asked ${order.join()}`)
      const seqs = handed.get(room) ?? []
      if (seqs.some((q, k) => k > 0 && q <= seqs[k - 1])) throw new Error(`${room}: handed to the adapter as ${seqs.join()}`)
      // Every acknowledged message was committed.
      for (const id of acked.get(room) ?? []) if (!kept.includes(id)) throw new Error(`${room}: ${id} acknowledged, not committed`)
    }
    return true
  }), { numRuns: 100 })
  t.pass('held on every run')
})

// The core's side of a store (core/store-link.ts): a join's state never says less than what this
// process has delivered of the room. The adapter hears of a committed event after this process
// delivered it (and not at all while Redis is away): found by the chaos run (seed 101), where a
// join said seq 1 to a client that had had 2, and its next resume from 1 gave it 2 twice. And with
// the store away, a join never tells an epoch known not to be the store's (the same run: a resume
// answered with the epoch Redis made after a failover). And a committed message the adapter could
// not take (Redis away) is handed to it again until it does: the other processes hear of it only
// from the adapter, and a room that says nothing more would leave their members without it (the
// chaos run, seed 201: a direct message never delivered to a connected recipient).
import t from 'tap'
import type { ChatAdapter } from '../lib/adapter/contract.js'
import type { RoomState } from '../lib/adapter/values.js'
import { messageDraft } from '../lib/core/message.js'
import { StoreLink } from '../lib/core/store-link.js'
import { FST_CHAT_UNAVAILABLE } from '../lib/errors.js'
import type { ChatStore } from '../lib/store/contract.js'

t.test('a join\'s seq is the adapter\'s, or what this process delivered when that is further', async (t) => {
  let asked = 0
  const store = { name: 'fixed', async state () { asked++; return { seq: 2, epoch: 'E' } } } as unknown as ChatStore
  const silent = { warn () {}, error () {}, info () {}, debug () {} } as any
  const link = new StoreLink(store, () => ({}) as unknown as ChatAdapter, 60_000, silent)
  const adapterSays = (seq: number, epoch: string): RoomState => ({ members: 1, users: 1, own: 1, seq, epoch })

  // First join: the adapter's epoch is not known to be the store's: the store answers.
  t.match(await link.joinState('r', adapterSays(0, 'other'), undefined), { seq: 2, epoch: 'E' })
  t.equal(asked, 1)
  // Now the adapter's epoch is the store's: its seq, unless this process delivered further.
  t.match(await link.joinState('r', adapterSays(1, 'E'), undefined), { seq: 1, epoch: 'E' }, 'nothing delivered here: the adapter\'s')
  t.match(await link.joinState('r', adapterSays(1, 'E'), { seq: 2, epoch: 'E' }), { seq: 2, epoch: 'E' }, 'delivered 2 here: never less')
  t.match(await link.joinState('r', adapterSays(3, 'E'), { seq: 2, epoch: 'E' }), { seq: 3, epoch: 'E' }, 'the adapter ahead: the adapter\'s')
  t.match(await link.joinState('r', adapterSays(1, 'E'), { seq: 9, epoch: 'old' }), { seq: 1, epoch: 'E' }, 'a position of another epoch counts for nothing')
  t.equal(asked, 1, 'the store was not asked again')
})

t.test('the store away: the adapter\'s state serves only when its epoch is known to be the store\'s', async (t) => {
  let up = true
  const store = {
    name: 'flaky',
    async state () {
      if (!up) throw new FST_CHAT_UNAVAILABLE('the database is away')
      return { seq: 5, epoch: 'E' }
    }
  } as unknown as ChatStore
  const silent = { warn () {}, error () {}, info () {}, debug () {} } as any
  const link = new StoreLink(store, () => ({}) as unknown as ChatAdapter, 60_000, silent)
  const adapterSays = (seq: number, epoch: string): RoomState => ({ members: 1, users: 1, own: 1, seq, epoch })
  up = false
  // Never learned (a process started while the store was away): the adapter's epoch may be one Redis
  // made after a failover (the chaos run, seed 202: a join told it, and the client resumed against
  // it): UNAVAILABLE, asked again.
  await t.rejects(link.joinState('a', adapterSays(5, 'E'), undefined), { code: 'FST_CHAT_UNAVAILABLE' })
  // Learned 'E'; then Redis failed over and gave the room a new epoch of its own: with the store
  // away, the join cannot say which epoch is the room's, so it is UNAVAILABLE (retried), never 'R'.
  up = true
  t.match(await link.joinState('b', adapterSays(0, 'x'), undefined), { epoch: 'E' })
  up = false
  await t.rejects(link.joinState('b', adapterSays(5, 'R'), undefined), { code: 'FST_CHAT_UNAVAILABLE' })
  t.match(await link.joinState('b', adapterSays(5, 'E'), undefined), { epoch: 'E' }, 'its own epoch still serves')
})

t.test('committed messages the adapter could not take are handed to it again until it does', async (t) => {
  const store = {
    name: 'fixed',
    async append (messages: Array<{ id: string }>) { return messages.map((m, i) => ({ status: 'sent', id: m.id, seq: i + 1, epoch: 'E' })) },
    async close () {}
  } as unknown as ChatStore
  const calls: number[][] = []
  let failures = 2
  let delivered!: () => void
  const handedOver = new Promise<void>((resolve) => { delivered = resolve })
  const adapter = {
    async publishStored (_room: string, epoch: string, frames: Array<{ seq: number }>) {
      calls.push(frames.map((f) => f.seq))
      if (failures-- > 0) throw new FST_CHAT_UNAVAILABLE('Redis is away')
      t.equal(epoch, 'E')
      delivered()
    }
  } as unknown as ChatAdapter
  const warnings: string[] = []
  const infos: string[] = []
  const log = { warn: (_o: unknown, m: string) => warnings.push(m), info: (_o: unknown, m: string) => infos.push(m), error () {}, debug () {} } as any
  const link = new StoreLink(store, () => adapter, 60_000, log)
  t.after(async () => { await link.close() })
  // The retry timers do not hold a process open (a server's sockets do): this test's must stay up.
  const alive = setInterval(() => {}, 1000)
  t.after(() => clearInterval(alive))
  const draft = messageDraft('r', { from: 'c1', userId: 'ann' }, 'hello', undefined, undefined, 0)
  const acked = await link.commit({ room: 'r', id: draft.id, userId: 'ann', from: 'c1', content: 'hello', timestamp: 0 }, draft)
  t.match(acked, { status: 'sent', seq: 1 }, 'acknowledged once committed, whatever the adapter says')
  await handedOver
  await new Promise((resolve) => setImmediate(resolve)) // the success is logged once the call returns
  t.same(calls, [[1], [1], [1]], 'tried again after each failure, the same events')
  t.equal(warnings.length, 1, 'one warning, not one per try')
  t.match(infos, [/handed to the adapter after all/])
})

t.test('retries stop when the link closes', async (t) => {
  const store = {
    name: 'fixed',
    async append (messages: Array<{ id: string }>) { return messages.map((m) => ({ status: 'sent', id: m.id, seq: 1, epoch: 'E' })) },
    async close () {}
  } as unknown as ChatStore
  let calls = 0
  const adapter = { async publishStored () { calls++; throw new FST_CHAT_UNAVAILABLE('Redis is away') } } as unknown as ChatAdapter
  const silent = { warn () {}, error () {}, info () {}, debug () {} } as any
  const link = new StoreLink(store, () => adapter, 60_000, silent)
  const draft = messageDraft('r', { from: 'c1', userId: 'ann' }, 'hello', undefined, undefined, 0)
  await link.commit({ room: 'r', id: draft.id, userId: 'ann', from: 'c1', content: 'hello', timestamp: 0 }, draft)
  await link.close()
  const after = calls
  await new Promise((resolve) => setTimeout(resolve, 700).ref()) // past the first retry's time: nothing may run
  t.equal(calls, after, 'no retry after close (no timer left behind)')
})

t.test('a resume is served from the hot window only in the store\'s epoch; another is the store\'s to judge', async (t) => {
  let events = 0
  const store = {
    name: 'fixed',
    async state () { return { seq: 2, epoch: 'E' } },
    async events (_room: string, after: number) {
      events++
      return { epoch: 'E', seq: 2, events: after < 2 ? [{ kind: 'message', room: 'r', seq: 2, epoch: 'E', id: 'm2', userId: 'u', from: 'c', content: 'two', timestamp: 0 }].filter((e) => e.seq > after) : [] }
    }
  } as unknown as ChatStore
  const silent = { warn () {}, error () {}, info () {}, debug () {} } as any
  const link = new StoreLink(store, () => ({}) as unknown as ChatAdapter, 60_000, silent)
  let hot = 0
  const hotWindow = async (): Promise<any> => { hot++; return { recovered: true, messages: [] } }
  await link.joinState('r', { members: 1, users: 1, own: 1, seq: 0, epoch: 'x' }, undefined) // learns 'E'
  // A resume from an epoch Redis made (R): not the hot window's to answer, even if it holds R.
  t.same(await link.since('r', 1, 'R', hotWindow), { recovered: false }, 'another epoch: not recovered')
  t.equal(hot, 0, 'the hot window was not asked')
  t.equal(events, 1, 'the store was')
  const r = await link.since('r', 1, 'E', hotWindow)
  t.same(r, { recovered: true, messages: [] }, 'the store\'s epoch: the hot window answers')
  t.equal(hot, 1)
})

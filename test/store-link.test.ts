// The core's side of a store (core/store-link.ts): a join's state never says less than what this
// process has delivered of the room. The adapter hears of a committed event after this process
// delivered it (and not at all while Redis is away): found by the chaos run (seed 101), where a
// join said seq 1 to a client that had had 2, and its next resume from 1 gave it 2 twice. And with
// the store away, a join never tells an epoch known not to be the store's (the same run: a resume
// answered with the epoch Redis made after a failover).
import t from 'tap'
import type { ChatAdapter } from '../lib/adapter/contract.js'
import type { RoomState } from '../lib/adapter/values.js'
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

t.test('the store away: the adapter\'s state serves, unless its epoch is known not to be the store\'s', async (t) => {
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
  // Never learned: the hot window's epoch came from the store as far as anyone here knows.
  t.match(await link.joinState('a', adapterSays(5, 'E'), undefined), { seq: 5, epoch: 'E' })
  // Learned 'E'; then Redis failed over and gave the room a new epoch of its own: with the store
  // away, the join cannot say which epoch is the room's, so it is UNAVAILABLE (retried), never 'R'.
  up = true
  t.match(await link.joinState('b', adapterSays(0, 'x'), undefined), { epoch: 'E' })
  up = false
  await t.rejects(link.joinState('b', adapterSays(5, 'R'), undefined), { code: 'FST_CHAT_UNAVAILABLE' })
  t.match(await link.joinState('b', adapterSays(5, 'E'), undefined), { epoch: 'E' }, 'its own epoch still serves')
})

// A room's slot migrated to another master while two processes have members there (the chaos run
// found members who heard nothing more): Redis ends the moved slot's shard subscriptions, and each
// process subscribes again where the slot is now: a listener hears the room, the publisher hears
// its own, and a resume is still recovered (a migration moves the history whole, unlike a
// failover, so the room keeps its epoch).
import t from 'tap'
import Redis from 'ioredis'
import calculateSlot from 'cluster-key-slot'
import { BACKENDS, processes } from './backends.js'
import { connect, token } from './helpers.js'
import { REDIS_CLUSTER_NODES } from './redis-helpers.js'

/** Moves `slot` from node `src` to node `dst` (indexes in REDIS_CLUSTER_NODES), keys and all. */
async function moveSlot (nodes: Redis[], ids: string[], slot: number, src: number, dst: number): Promise<void> {
  await nodes[dst].call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[src])
  await nodes[src].call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[dst])
  for (;;) {
    const keys = await nodes[src].call('CLUSTER', 'GETKEYSINSLOT', slot, 100) as string[]
    if (keys.length === 0) break
    await nodes[src].call('MIGRATE', REDIS_CLUSTER_NODES[dst].host, REDIS_CLUSTER_NODES[dst].port, '', 0, 5000, 'KEYS', ...keys)
  }
  for (const n of nodes) await n.call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[dst])
}

t.test('a room\'s slot migrated: its members still hear it, and resumes are still recovered', async (t) => {
  const backend = BACKENDS.find((b) => b.name === 'redis cluster')!
  if (!await backend.ready(t)) return
  const [a, b] = await processes(t, backend, 2, { rateLimit: false })
  const alice = await connect(a, token({ sub: 'alice' }))
  const bob = await connect(b, token({ sub: 'bob' }))
  t.match(await alice.request({ action: 'message', room: 'lobby', content: 'one' }), { type: 'ack' })
  const one = await bob.next('message')

  const nodes = REDIS_CLUSTER_NODES.map((n) => new Redis(n.port, n.host))
  t.teardown(() => { for (const n of nodes) n.disconnect() })
  const ids = await Promise.all(nodes.map(async (n) => await n.call('CLUSTER', 'MYID') as string))
  const slot = calculateSlot('{r:lobby}')
  const slots = await nodes[0].call('CLUSTER', 'SLOTS') as Array<[number, number, [string, number, string]]>
  const src = ids.indexOf(slots.find(([lo, hi]) => slot >= lo && slot <= hi)![2][2])
  const dst = (src + 1) % nodes.length
  await moveSlot(nodes, ids, slot, src, dst)
  // So that the shared test cluster is as it was, whatever happens below.
  t.teardown(async () => await moveSlot(nodes, ids, slot, dst, src))

  // Bob's process publishes after the move (a write may meet the move on its way: it is resent).
  let sent: any
  for (let i = 0; i < 20 && sent?.type !== 'ack'; i++) {
    sent = await bob.request({ action: 'message', room: 'lobby', content: 'two' })
    if (sent.type !== 'ack') await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.match(sent, { type: 'ack' })
  t.match(await alice.next((f) => f.type === 'message' && f.content === 'two', 10_000), { content: 'two' }, 'alice, who only listens there, hears it')
  t.match(await bob.next((f) => f.type === 'message' && f.content === 'two', 10_000), { content: 'two' }, 'bob hears his own')
  const carol = await connect(a, token({ sub: 'carol' }), { defaultRoom: false })
  t.match(await carol.request({ action: 'join', room: 'lobby', since: { seq: one.seq, epoch: one.epoch } }), { type: 'joined', recovered: true, epoch: one.epoch },
    'the room kept its epoch: a resume from before the move is recovered')
  for (const c of [alice, bob, carol]) c.close()
})

// Request and reply between processes, over an in-memory bus: no Redis needed.
import t from 'tap'
import { ClusterRpc, type RpcBus } from '../lib/adapter/cluster-rpc.js'

function network () {
  const inboxes = new Map<string, ClusterRpc<any, any>>()
  const down = new Set<string>()
  const bus: RpcBus = {
    async send (node, message) {
      if (down.has(node)) return
      const target = inboxes.get(node)
      // Delivered a moment later, as a network would.
      if (target !== undefined) setImmediate(() => target.receive(message))
    }
  }
  return { inboxes, down, bus }
}

t.test('a request reaches its process and comes back; a gather counts from the list it is given', async (t) => {
  const { inboxes, down, bus } = network()
  for (const id of ['a', 'b', 'c']) {
    inboxes.set(id, new ClusterRpc<{ n: number }, string>(id, bus, (req, from) => `${id}:${req.n}:${from}`, 200))
  }
  const a = inboxes.get('a')!
  t.same(await a.request('b', { n: 1 }), { result: 'b:1:a' })
  t.same((await a.gather(['a', 'b', 'c'], { n: 2 })).sort(), ['b:2:a', 'c:2:a'], 'everyone but itself')
  down.add('c')
  const started = Date.now()
  t.same(await a.gather(['b', 'c'], { n: 3 }), ['b:3:a'], 'a process that does not answer: what came by the deadline')
  t.ok(Date.now() - started >= 150, 'waited for the deadline')
  t.equal(await a.request('c', { n: 4 }), undefined, 'no answer: undefined')
  t.equal(await a.request('nowhere', { n: 5 }), undefined, 'no such process: undefined')
  t.same(await a.gather([], { n: 6 }), [], 'nobody to ask')
})

t.test('a handler that throws gives no answer; a closed rpc settles what waits', async (t) => {
  const { inboxes, bus } = network()
  inboxes.set('a', new ClusterRpc('a', bus, () => 'a', 5000))
  inboxes.set('b', new ClusterRpc('b', bus, () => { throw new Error('boom') }, 5000))
  const a = inboxes.get('a')!
  const pending = a.request('b', {})
  setTimeout(() => a.close(), 50)
  t.equal(await pending, undefined, 'settled by close, long before the 5 s deadline')
  t.same(await a.gather(['b'], {}), [], 'nothing is sent once closed')
  inboxes.get('b')!.receive('not json')
  t.pass('garbage in an inbox is ignored')
})

// A leave the backend could not take leaves the connection in the room, and it must not have
// missed what the room sent while the leave was on its way (found by the chaos run: a member whose
// leave failed during a Redis failover got seq 124 after 120, with 121-123 gone).
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import chatPlugin, { memoryAdapter } from '../lib/index.js'
import type { ChatAdapter, AdapterNode } from '../lib/adapter/contract.js'
import { FST_CHAT_UNAVAILABLE } from '../lib/errors.js'
import { SECRET, connect, token } from './helpers.js'

/** The memory adapter, whose leaves wait for the test and then fail as a backend that is away would. */
function failingLeaves (): { factory: (node: AdapterNode) => Promise<ChatAdapter>, asked: Promise<void>, fail: () => void } {
  let fail!: () => void
  let asked!: () => void
  const gate = new Promise<void>((resolve) => { fail = resolve })
  const askedP = new Promise<void>((resolve) => { asked = resolve })
  const factory = async (node: AdapterNode): Promise<ChatAdapter> => {
    const real = await memoryAdapter()(node)
    return new Proxy(real, {
      get (target, prop) {
        if (prop === 'leave') {
          return async () => {
            asked()
            await gate
            throw new FST_CHAT_UNAVAILABLE('Connection is closed.')
          }
        }
        const v = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      }
    })
  }
  return { factory, asked: askedP, fail }
}

async function build (t: Test, adapter: (node: AdapterNode) => Promise<ChatAdapter>): Promise<FastifyInstance> {
  const app = Fastify()
  t.after(async () => await app.close())
  await app.register(chatPlugin, { jwt: { secret: SECRET }, heartbeatInterval: 0, admission: false, rateLimit: false, adapter })
  await app.ready()
  return app
}

t.test('a leave answered UNAVAILABLE: still a member, and what the room sent meanwhile arrives, in order', async (t) => {
  const leaves = failingLeaves()
  const app = await build(t, leaves.factory)
  const alice = await connect(app, token({ sub: 'alice' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  for (const c of [alice, bob]) t.match(await c.request({ action: 'join', room: 'r' }), { type: 'joined' })
  t.match(await bob.request({ action: 'message', room: 'r', content: 'before' }), { type: 'ack', seq: 1 })
  t.match(await alice.next('message'), { content: 'before', seq: 1 })

  const leaving = alice.request({ action: 'leave', room: 'r' })
  await leaves.asked
  for (const content of ['during 1', 'during 2']) t.match(await bob.request({ action: 'message', room: 'r', content }), { type: 'ack' })
  leaves.fail()
  t.match(await leaving, { type: 'error', code: 'UNAVAILABLE' }, 'the leave was not done')
  t.match(await bob.request({ action: 'message', room: 'r', content: 'after' }), { type: 'ack', seq: 4 })

  const got = []
  for (let i = 0; i < 3; i++) got.push(await alice.next('message'))
  t.same(got.map((m) => [m.seq, m.content]), [[2, 'during 1'], [3, 'during 2'], [4, 'after']], 'no gap, in seq order')
  t.match(await alice.request({ action: 'message', room: 'r', content: 'still in' }), { type: 'ack', seq: 5 }, 'and it is still a member')
  alice.close(); bob.close()
})

t.test('a connection that closes while its leave fails is not put back', async (t) => {
  const leaves = failingLeaves()
  const app = await build(t, leaves.factory)
  const alice = await connect(app, token({ sub: 'alice' }))
  t.match(await alice.request({ action: 'join', room: 'r' }), { type: 'joined' })
  alice.send({ action: 'leave', room: 'r', ref: 'l1' })
  await leaves.asked
  alice.close()
  await alice.closedWithin()
  leaves.fail()
  // Its close ran its leaves too (they failed as well): nothing of it may stay in the room.
  const until = Date.now() + 5000
  const inRoom = async (): Promise<boolean> => (await app.chat.rooms()).some((r) => r.name === 'r')
  while (await inRoom() && Date.now() < until) await new Promise((resolve) => setImmediate(resolve))
  t.equal(await inRoom(), false, 'the room has no member left')
})

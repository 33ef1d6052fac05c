// Typing indicators: ephemeral, per room, the whole set each time, merged within 250 ms, ended by
// their ttl, a message, a leave or the last connection closing; a late joiner sees who is typing;
// a bucket of their own; across processes on Redis.
import t from 'tap'
import { Membership } from '../lib/core/membership.js'
import { Typing } from '../lib/core/typing.js'
import { BACKENDS, processes } from './backends.js'
import { build, connect, token } from './helpers.js'

const typing = (room: string, on: boolean) => ({ action: 'typing', room, typing: on })

t.test('the set: on, the whole set, merged; not told to a user about itself alone; ended by a message', async (t) => {
  const app = await build(t)
  const ann = await connect(app, token({ sub: 'ann', name: 'Ann' }))
  const bob = await connect(app, token({ sub: 'bob', name: 'Bob' }))
  const cat = await connect(app, token({ sub: 'cat' }))
  ann.send(typing('lobby', true))
  t.same(await bob.next('typing'), { type: 'typing', room: 'lobby', users: [{ userId: 'ann', name: 'Ann' }] })
  t.same(await cat.next('typing'), { type: 'typing', room: 'lobby', users: [{ userId: 'ann', name: 'Ann' }] })
  const at = Date.now()
  bob.send(typing('lobby', true))
  cat.send(typing('lobby', true))
  const merged = await ann.next('typing')
  t.ok(Date.now() - at >= 150, 'the next change waits for the end of the window')
  t.same(merged.users.map((u: any) => u.userId), ['ann', 'bob', 'cat'], 'two changes in one window: one frame with the whole set')
  t.equal(ann.queue.filter((f) => f.type === 'typing').length, 0, 'one frame, not two')
  const ack = await ann.request({ action: 'message', room: 'lobby', content: 'done typing' })
  t.equal(ack.type, 'ack')
  t.same((await cat.next((f) => f.type === 'typing' && f.users.length === 2 && !f.users.some((u: any) => u.userId === 'ann'))).users.map((u: any) => u.userId), ['bob', 'cat'], 'a message ends the sender\'s typing')
  t.match(await ann.request({ action: 'typing', room: 'elsewhere', typing: true }), { code: 'NOT_A_MEMBER' })
  for (const c of [ann, bob, cat]) c.close()
})

t.test('ended by the ttl without a false, by a leave, by the last connection closing; a late joiner sees it', async (t) => {
  const app = await build(t, { typingTtl: 600 })
  const ann = await connect(app, token({ sub: 'ann' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  ann.send(typing('lobby', true))
  t.same((await bob.next('typing')).users, [{ userId: 'ann' }])
  const late = await connect(app, token({ sub: 'late' }), { defaultRoom: false })
  t.match(await late.next('joined'), { room: 'lobby', typing: [{ userId: 'ann' }] }, 'joined carries who is typing now')
  const since = Date.now()
  t.same((await bob.next('typing', 5000)).users, [], 'no false: it ends by itself')
  t.ok(Date.now() - since >= 300, 'after about its ttl')

  ann.send(typing('lobby', true))
  await bob.next((f) => f.type === 'typing' && f.users.length === 1)
  await ann.request({ action: 'leave', room: 'lobby' })
  t.same((await bob.next('typing')).users, [], 'a leave ends it')

  const tab1 = await connect(app, token({ sub: 'cat' }))
  const tab2 = await connect(app, token({ sub: 'cat' }))
  tab1.send(typing('lobby', true))
  await bob.next((f) => f.type === 'typing' && f.users.length === 1)
  tab1.close()
  await tab1.closed
  await bob.barrier()
  t.equal(bob.queue.filter((f) => f.type === 'typing').length, 0, 'another tab of the user stays: still typing')
  tab2.close()
  t.same((await bob.next('typing')).users, [], 'its last connection closing ends it')
  bob.close(); late.close()
})

t.test('a bucket of its own: past it, typing frames are dropped without a word, messages still go', async (t) => {
  const app = await build(t, { typingRate: 2 })
  const ann = await connect(app, token({ sub: 'ann' }))
  const bob = await connect(app, token({ sub: 'bob' }))
  for (let i = 0; i < 10; i++) ann.send(typing('lobby', i % 2 === 0))
  t.match(await ann.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' })
  await ann.barrier()
  t.equal(ann.queue.filter((f) => f.type === 'error').length, 0, 'no error for dropped typing')
  await bob.barrier()
  t.ok(bob.queue.filter((f) => f.type === 'typing').length <= 2, 'only what the bucket let through reached others')
  ann.close(); bob.close()
})

for (const backend of BACKENDS) {
  t.test(`across processes (${backend.name})`, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2, { typingTtl: 3000 })
    const ann = await connect(a, token({ sub: 'ann' }))
    const bob = await connect(b, token({ sub: 'bob' }))
    const cat = await connect(b, token({ sub: 'cat' }))
    ann.send(typing('lobby', true))
    t.same((await bob.next('typing')).users, [{ userId: 'ann' }], 'typing crosses processes')
    cat.send(typing('lobby', true))
    t.same((await ann.next('typing')).users.map((u: any) => u.userId).sort(), ['ann', 'cat'], 'the whole set, from both processes')
    // A user typing on for longer than the ttl, renewing as clients do: the other process must
    // not let it lapse (this models elapsed time, so it waits between renewals).
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 450))
      ann.send(typing('lobby', true))
      cat.send(typing('lobby', true))
    }
    await bob.barrier()
    t.notOk(bob.queue.some((f) => f.type === 'typing' && !f.users.some((u: any) => u.userId === 'ann')), 'a renewed entry never lapsed on the other process')
    await ann.barrier()
    t.notOk(ann.queue.some((f) => f.type === 'typing' && !f.users.some((u: any) => u.userId === 'cat')), 'nor the other way')
    ann.send(typing('lobby', false))
    t.same((await bob.next((f) => f.type === 'typing' && !f.users.some((u: any) => u.userId === 'ann'))).users, [{ userId: 'cat' }], 'a false crosses too')
    for (const c of [ann, bob, cat]) c.close()
  })
}

t.test('an entry of this process that ends by its ttl is told to the others at once', async (t) => {
  const signals: Array<{ room: string, data: string }> = []
  let ended: () => void = () => {}
  const endedNow = new Promise<void>((resolve) => { ended = resolve })
  const typingSet = new Typing({
    ttl: 500,
    presenceLimit: 100,
    membership: new Membership(),
    send: () => {},
    adapter: () => ({ signal: async (room: string, data: string) => { signals.push({ room, data }); if (JSON.parse(data).until === 0) ended() } }) as any
  })
  t.teardown(() => typingSet.close())
  const hold = setTimeout(() => {}, 10_000) // the sweep timer is unref'd
  typingSet.typed({ userId: 'ann' } as any, 'r', true, 'Ann')
  await endedNow
  clearTimeout(hold)
  t.match(JSON.parse(signals[0].data), { u: 'ann', n: 'Ann' }, 'the start was told')
  t.same(JSON.parse(signals.at(-1)!.data), { u: 'ann', until: 0 }, 'and its end by expiry')
  t.same(typingSet.of('r'), [])
})

// The contract every ChatAdapter must meet, run against each implementation by its own test file.
import type { Test } from 'tap'
import type { AdapterNode, ChatAdapter } from '../lib/adapter/adapter.js'
import { Registry, type Member } from '../lib/registry.js'

interface Delivery { room: string, frame: string, except?: string }

const noop = (): void => {}
const abstractLogger: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, level: 'silent' }
abstractLogger.child = () => abstractLogger

/** A node as the plugin would give it: a registry, and deliveries recorded instead of sent. */
function fakeNode (): AdapterNode & { deliveries: Delivery[] } {
  const deliveries: Delivery[] = []
  return {
    registry: new Registry(),
    deliveries,
    deliver (room, frame, except) { deliveries.push({ room, frame, except }) },
    async execute () { return 'not-found' },
    stats () { return { connections: 0, rooms: 0, members: 0, messagesIn: 0, messagesOut: 0 } },
    * localClients () {},
    resync () {},
    lost () {},
    log: abstractLogger,
    history: { size: 10, ttl: 60_000, maxBytes: 1024 * 1024 }
  }
}

export function adapterContract (t: Test, name: string, create: () => ChatAdapter | Promise<ChatAdapter>): void {
  t.test(`${name}: the ChatAdapter contract`, async (t) => {
    const adapter = await create()
    const node = fakeNode()
    await adapter.init(node)
    t.after(() => adapter.close())

    const member = (clientId: string, userId: string, joinedAt: number): Member => ({ clientId, userId, joinedAt })
    const join = async (room: string, m: Member) => { node.registry.add(room, m); return await adapter.join(room, m) }
    const leave = async (room: string, clientId: string) => { node.registry.remove(room, clientId); return await adapter.leave(room, clientId) }

    await adapter.connect('c1', 'u1')
    await adapter.connect('c2', 'u2')
    t.same(await adapter.rooms(), [])
    t.equal(await adapter.room('a'), null)
    t.same(await adapter.members('a'), [])

    t.match(await join('b', member('c1', 'u1', 1)), { members: 1, seq: 0, epoch: String }, 'join resolves the member count, seq and epoch')
    t.equal((await join('b', member('c2', 'u2', 2))).members, 2)
    t.equal((await join('a', member('c1', 'u1', 3))).members, 1)
    t.equal((await join('__proto__', member('c2', 'u2', 4))).members, 1)
    t.same(await adapter.rooms(), [{ name: '__proto__', members: 1 }, { name: 'a', members: 1 }, { name: 'b', members: 2 }], 'sorted by code unit')
    t.same(await adapter.room('b'), { name: 'b', members: 2 })
    t.same(await adapter.members('b'), [
      { clientId: 'c1', userId: 'u1', joinedAt: 1 },
      { clientId: 'c2', userId: 'u2', joinedAt: 2 }
    ], 'in join order')

    await adapter.publish('b', '{"x":1}', 'c1')
    await adapter.publish('a', '{"x":2}')
    // An adapter may deliver through its backend, a moment later.
    const deadline = Date.now() + 5000
    while (node.deliveries.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    t.same(node.deliveries, [
      { room: 'b', frame: '{"x":1}', except: 'c1' },
      { room: 'a', frame: '{"x":2}', except: undefined }
    ], 'publish reaches the local node once per frame, with the exception')

    t.equal(await leave('b', 'c1'), 1, 'leave resolves the remaining count')
    t.equal(await leave('b', 'c2'), 0)
    t.equal(await adapter.room('b'), null, 'an empty room is gone')
    t.same((await adapter.rooms()).map((r) => r.name), ['__proto__', 'a'])

    t.equal(await adapter.command('nobody', { op: 'join', room: 'a' }), 'not-found', 'a client no process holds')

    // Messages: seq per room, history, resume, dedupe
    const { epoch } = await join('b', member('c2', 'u2', 2))
    const draft = (id: string, dedupe?: string, digest = 'same') => ({ id, head: `{"id":"${id}","seq":`, mid: ',"epoch":"', tail: '"}', dedupe, digest: dedupe === undefined ? undefined : digest })
    node.deliveries.length = 0
    const p1 = await adapter.publishMessage('b', draft('m1'))
    const p2 = await adapter.publishMessage('b', draft('m2', 'u1\nb\ns1'))
    t.same([p1.seq, p2.seq, p1.epoch, p2.epoch, p1.status], [1, 2, epoch, epoch, 'sent'], 'seq 1, 2 in the epoch of the join')
    const again = await adapter.publishMessage('b', draft('m3', 'u1\nb\ns1'))
    t.same(again, { status: 'duplicate', id: 'm2', seq: 2, epoch }, 'a resend gets the original')
    const other = await adapter.publishMessage('b', draft('m4', 'u1\nb\ns1', 'different'))
    t.same(other, { status: 'reused', id: 'm2', seq: 2, epoch }, 'the same ref saying something else is refused, nothing published')
    const deadline2 = Date.now() + 5000
    while (node.deliveries.length < 2 && Date.now() < deadline2) await new Promise((resolve) => setTimeout(resolve, 10))
    t.same(node.deliveries.map((d) => JSON.parse(d.frame).seq), [1, 2], 'delivered in seq order, the resend not at all')
    t.same((await adapter.history('b', { limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m1', 'm2'])
    t.same((await adapter.history('b', { after: 1, limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m2'])
    t.same((await adapter.history('b', { before: 2, limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m1'])
    t.same((await adapter.history('nowhere', { limit: 10 })).messages, [])
    t.match(await adapter.since('b', 0, epoch), { recovered: true, messages: [{ seq: 1 }, { seq: 2 }] })
    t.match(await adapter.since('b', 2, epoch), { recovered: true, messages: [] })
    t.same(await adapter.since('b', 3, epoch), { recovered: false }, 'a seq from the future')
    t.same(await adapter.since('b', 0, 'another-epoch'), { recovered: false }, 'another epoch')
    await leave('b', 'c2')
    // Tickets: once each, within their ttl
    await adapter.issueTicket('t1', '{"sub":"u1"}', 60_000)
    t.equal(await adapter.redeemTicket('t1'), '{"sub":"u1"}')
    t.equal(await adapter.redeemTicket('t1'), null, 'a ticket works once')
    t.equal(await adapter.redeemTicket('forged'), null)
    await adapter.issueTicket('t2', '{"sub":"u2"}', 20)
    // Expiry is about time: let its 20 ms ttl pass.
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(await adapter.redeemTicket('t2'), null, 'an expired ticket')

    const local = { connections: 2, rooms: 2, members: 2, messagesIn: 5, messagesOut: 7 }
    t.same(await adapter.stats(local), local, 'one process: its own counters')
    await leave('a', 'c1')
    await leave('__proto__', 'c2')
    await adapter.disconnect('c1')
    await adapter.disconnect('c2')
    t.same(await adapter.rooms(), [], 'all gone')
  })
}

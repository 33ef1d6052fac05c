// The contract every adapter must meet, run by each implementation's own test file: one node at a
// time on a fresh adapter, then two and three nodes sharing one backend, as processes would.
import type { Test } from 'tap'
import type { AdapterFactory, AdapterNode, ChatAdapter, RemoteCommand, RemoteResult } from '../lib/adapter/contract.js'
import calculateSlot from 'cluster-key-slot'
import { Membership } from '../lib/core/membership.js'
import type { ChatStats, Member } from '../lib/model.js'

/** A backend several nodes share (a bus, a Redis prefix): each call to `factory` makes one node's adapter. */
export interface Backend {
  factory: () => AdapterFactory
  cleanup?: () => Promise<void>
}

interface Delivery { room: string, frame: string, except?: string, seq?: number }

const noop = (): void => {}
const silent: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, level: 'silent' }
silent.child = () => silent

/** A node as the plugin would be: a membership, and deliveries and commands recorded instead of sent. */
export interface FakeNode extends AdapterNode {
  /** The plugin's own membership (the adapter reads it; the tests write it as the core would). */
  readonly membership: Membership
  deliveries: Delivery[]
  commands: Array<{ clientId: string, command: RemoteCommand }>
  clients: Map<string, string>
  counters: ChatStats
  presence: Array<{ userId: string, online: boolean, lastSeen: number | undefined }>
  signals: Array<{ room: string, data: string }>
}

let nodesMade = 0

/**
 * A node id whose inbox lands in the given third of Redis Cluster's slots: on the test cluster (3
 * masters of a third each), the nodes of one test listen on different shards, so requests and
 * replies between them cross shards (and a count taken from one shard's subscribers would be wrong).
 */
function nodeId (third: number): string {
  for (;;) {
    const id = `n${++nodesMade}x${Math.random().toString(36).slice(2, 8)}`
    if (Math.floor(calculateSlot(`{n:${id}}:c`) * 3 / 16384) === third % 3) return id
  }
}

export function fakeNode (third = 0): FakeNode {
  const node: FakeNode = {
    id: nodeId(third),
    membership: new Membership(),
    deliveries: [],
    commands: [],
    clients: new Map(),
    counters: { connections: 0, rooms: 0, members: 0, messagesIn: 0, messagesOut: 0 },
    presence: [],
    signals: [],
    signal (room, data) { node.signals.push({ room, data }) },
    deliver (room, frame, except, seq) { node.deliveries.push({ room, frame, except, seq }) },
    resync () {},
    async execute (clientId, command): Promise<RemoteResult> {
      if (!node.clients.has(clientId)) return 'not-found'
      node.commands.push({ clientId, command })
      return command.op === 'join' ? 'joined' : command.op === 'leave' ? 'left' : 'closed'
    },
    stats () { return node.counters },
    * localClients () { for (const [clientId, userId] of node.clients) yield { clientId, userId } },
    lost () {},
    presenceChanged (userId: string, online: boolean, lastSeen: number | undefined) { node.presence.push({ userId, online, lastSeen }) },
    position: () => undefined,
    log: silent,
    history: { size: 10, ttl: 60_000, maxBytes: 1024 * 1024 }
  }
  return node
}

interface Node { node: FakeNode, adapter: ChatAdapter }

/** Nodes on one backend; everything is closed (and the backend cleaned up) when the test ends. */
async function nodes (t: Test, backend: () => Backend, n: number): Promise<Node[]> {
  const b = backend()
  const out: Node[] = []
  t.after(async () => {
    for (const { adapter } of out) await adapter.close()
    await b.cleanup?.()
  })
  for (let i = 0; i < n; i++) {
    const node = fakeNode(i)
    out.push({ node, adapter: await b.factory()(node) })
  }
  return out
}

const member = (clientId: string, userId: string, joinedAt: number): Member => ({ clientId, userId, joinedAt })
async function connect ({ node, adapter }: Node, clientId: string, userId: string): Promise<void> {
  node.clients.set(clientId, userId)
  await adapter.connect(clientId, userId)
}
async function join ({ node, adapter }: Node, room: string, m: Member) {
  node.membership.add(room, m)
  return await adapter.join(room, m)
}
async function leave ({ node, adapter }: Node, room: string, clientId: string) {
  const m = node.membership.remove(room, clientId)!
  return await adapter.leave(room, m)
}
const all = { limit: 1000 }
const roomsOf = async (adapter: ChatAdapter) => (await adapter.rooms(all)).rooms
const membersOf = async (adapter: ChatAdapter, room: string) => (await adapter.members(room, all)).members
const draft = (id: string, dedupe?: string, digest = 'same') => ({ id, head: `{"id":"${id}","seq":`, mid: ',"epoch":"', tail: '"}', dedupe, digest: dedupe === undefined ? undefined : digest })
/** Waits until `check` holds: an adapter may deliver through its backend, a moment later. */
async function eventually (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
}

export function adapterContract (t: Test, name: string, backend: () => Backend): void {
  t.test(`${name}: membership`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c1', 'u1')
    await connect(a, 'c2', 'u2')
    t.same(await roomsOf(a.adapter), [])
    t.equal(await a.adapter.room('a'), null)
    t.same(await membersOf(a.adapter, 'a'), [])
    t.match(await join(a, 'b', member('c1', 'u1', 1)), { members: 1, seq: 0, epoch: String }, 'join resolves the member count, seq and epoch')
    t.equal((await join(a, 'b', member('c2', 'u2', 2))).members, 2)
    t.equal((await join(a, 'a', member('c1', 'u1', 3))).members, 1)
    t.equal((await join(a, '__proto__', member('c2', 'u2', 4))).members, 1)
    t.same(await roomsOf(a.adapter), [{ name: '__proto__', members: 1 }, { name: 'a', members: 1 }, { name: 'b', members: 2 }], 'sorted by code unit')
    t.same(await a.adapter.room('b'), { name: 'b', members: 2 })
    t.same(await membersOf(a.adapter, 'b'), [
      { clientId: 'c1', userId: 'u1', joinedAt: 1 },
      { clientId: 'c2', userId: 'u2', joinedAt: 2 }
    ], 'in join order')
    t.same(await leave(a, 'b', 'c1'), { members: 1, users: 1, own: 0 }, 'leave resolves the remaining counts')
    t.same(await leave(a, 'b', 'c2'), { members: 0, users: 0, own: 0 })
    t.equal(await a.adapter.room('b'), null, 'an empty room is gone')
    t.same((await roomsOf(a.adapter)).map((r) => r.name), ['__proto__', 'a'])
    await leave(a, 'a', 'c1')
    await leave(a, '__proto__', 'c2')
    await a.adapter.disconnect('c1', 'u1')
    await a.adapter.disconnect('c2', 'u2')
    t.same(await roomsOf(a.adapter), [], 'all gone')
  })

  t.test(`${name}: publish reaches the node once per frame, in order, with the exception`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c1', 'u1')
    await join(a, 'b', member('c1', 'u1', 1))
    await join(a, 'a', member('c1', 'u1', 2))
    await a.adapter.publish('b', '{"x":1}', 'c1')
    await a.adapter.publish('a', '{"x":2}')
    for (let i = 0; i < 50; i++) void a.adapter.publish('a', `{"n":${i}}`)
    await a.adapter.publish('nowhere', '{"x":3}')
    await eventually(() => a.node.deliveries.length >= 52)
    t.match(a.node.deliveries.slice(0, 2), [{ room: 'b', frame: '{"x":1}', except: 'c1' }, { room: 'a', frame: '{"x":2}', except: undefined }])
    t.same(a.node.deliveries.slice(2).map((d) => JSON.parse(d.frame).n), Array.from({ length: 50 }, (_, i) => i), 'in publish order')
    await eventually(() => false, 100)
    t.equal(a.node.deliveries.length, 52, 'nothing for a room without members, nothing twice')
  })

  t.test(`${name}: history, seq and resume`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    const { epoch } = await join(a, 'b', member('c2', 'u2', 2))
    const p1 = await a.adapter.publishMessage('b', draft('m1'))
    const p2 = await a.adapter.publishMessage('b', draft('m2'))
    t.same([p1.status, p1.seq, p2.seq, p1.epoch, p2.epoch], ['sent', 1, 2, epoch, epoch], 'seq 1, 2 in the epoch of the join')
    await eventually(() => a.node.deliveries.length >= 2)
    t.same(a.node.deliveries.map((d) => [JSON.parse(d.frame).seq, d.seq]), [[1, 1], [2, 2]], 'delivered in seq order, with the seq')
    t.same((await a.adapter.history('b', { limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m1', 'm2'])
    t.same((await a.adapter.history('b', { after: 1, limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m2'])
    t.same((await a.adapter.history('b', { before: 2, limit: 10 })).messages.map((m) => JSON.parse(m).id), ['m1'])
    t.same((await a.adapter.history('nowhere', { limit: 10 })).messages, [])
    t.match(await a.adapter.since('b', 0, epoch), { recovered: true, messages: [{ seq: 1 }, { seq: 2 }] })
    t.match(await a.adapter.since('b', 2, epoch), { recovered: true, messages: [] })
    t.same(await a.adapter.since('b', 3, epoch), { recovered: false }, 'a seq from the future')
    t.same(await a.adapter.since('b', 0, 'another-epoch'), { recovered: false }, 'another epoch')
    t.equal((await join(a, 'b', member('c2', 'u2', 2))).seq, 2, 'a join reads the newest seq')
  })

  t.test(`${name}: edits and deletions without a store (find, revise)`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    const { epoch } = await join(a, 'b', member('c2', 'u2', 2))
    await a.adapter.publishMessage('b', draft('m1'))
    await a.adapter.publishMessage('b', draft('m2'))
    t.same(await a.adapter.find('b', 'm1'), { seq: 1, epoch, text: `{"id":"m1","seq":1,"epoch":"${epoch}"}` })
    t.equal(await a.adapter.find('b', 'nope'), null)
    t.equal(await a.adapter.find('elsewhere', 'm1'), null)
    const change = (id: string) => ({ head: `{"change":"${id}","seq":`, mid: ',"epoch":"', tail: '"}' })
    const edited = await a.adapter.revise('b', { seq: 1, epoch, version: '{"id":"m1","v":2}', deleted: false, ...change('m1') })
    t.match(edited, { status: 'sent', seq: 3, epoch })
    t.same((await a.adapter.find('b', 'm1'))?.text, '{"id":"m1","v":2}', 'the message is at its new version')
    t.match(await a.adapter.revise('b', { seq: 2, epoch, version: '{"id":"m2","deleted":true}', deleted: true, ...change('m2') }), { seq: 4 })
    t.equal(await a.adapter.revise('b', { seq: 2, epoch, version: '{"id":"m2","again":true}', deleted: false, ...change('m2') }), null, 'a deleted message is not revised again')
    t.equal(await a.adapter.revise('b', { seq: 1, epoch: 'another', version: '{}', deleted: false, ...change('m1') }), null, 'nor one of another epoch')
    t.equal(await a.adapter.revise('b', { seq: 9, epoch, version: '{}', deleted: false, ...change('m9') }), null, 'nor one not held')
    await eventually(() => a.node.deliveries.length >= 4)
    t.same(a.node.deliveries.map((d) => d.seq), [1, 2, 3, 4], 'the changes are delivered with their own seq')
    t.same((await a.adapter.history('b', { limit: 10 })).messages, ['{"id":"m1","v":2}', '{"id":"m2","deleted":true}'], 'history: messages only, at their latest version')
    const resume = await a.adapter.since('b', 0, epoch)
    t.same(resume.recovered && resume.messages.map((m) => [m.seq, m.text]), [
      [1, '{"id":"m1","v":2}'], [2, '{"id":"m2","deleted":true}'], [3, `{"change":"m1","seq":3,"epoch":"${epoch}"}`], [4, `{"change":"m2","seq":4,"epoch":"${epoch}"}`]
    ], 'a resume replays messages at their latest version and the changes in order')
  })

  t.test(`${name}: a deletion empties its message's earlier edits in every replay (without a store)`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    const { epoch } = await join(a, 'x', member('c2', 'u2', 2))
    await a.adapter.publishMessage('x', draft('m1'))
    await a.adapter.publishMessage('x', draft('m2'))
    const edit = (id: string, content: string) => ({ head: `{"type":"edited","room":"x","id":"${id}","seq":`, mid: ',"epoch":"', tail: `","userId":"u2","content":"${content}","meta":{"k":"${content}"},"editedAt":5}` })
    await a.adapter.revise('x', { seq: 1, epoch, version: '{"id":"m1","v":2}', deleted: false, ...edit('m1', 'first-secret') })
    await a.adapter.revise('x', { seq: 2, epoch, version: '{"id":"m2","v":2}', deleted: false, ...edit('m2', 'kept') })
    await a.adapter.revise('x', { seq: 1, epoch, version: '{"id":"m1","v":3}', deleted: false, ...edit('m1', 'second-secret') })
    await a.adapter.revise('x', { seq: 1, epoch, version: '{"id":"m1","deleted":true}', deleted: true, head: '{"type":"deleted","room":"x","id":"m1","seq":', mid: ',"epoch":"', tail: '","userId":"u2","deletedAt":6}' })
    const replay = await a.adapter.since('x', 0, epoch)
    t.ok(replay.recovered)
    const texts = replay.recovered ? replay.messages.map((m) => m.text) : []
    t.same(texts.map((text) => JSON.parse(text)), [
      { id: 'm1', deleted: true },
      { id: 'm2', v: 2 },
      { type: 'edited', room: 'x', id: 'm1', seq: 3, epoch, userId: 'u2', content: '', editedAt: 5 },
      { type: 'edited', room: 'x', id: 'm2', seq: 4, epoch, userId: 'u2', content: 'kept', meta: { k: 'kept' }, editedAt: 5 },
      { type: 'edited', room: 'x', id: 'm1', seq: 5, epoch, userId: 'u2', content: '', editedAt: 5 },
      { type: 'deleted', room: 'x', id: 'm1', seq: 6, epoch, userId: 'u2', deletedAt: 6 }
    ], 'the edits of the deleted message keep their place and seq, without content or meta; the other message\'s edit is untouched')
    t.notOk(texts.join('').includes('secret'), 'no earlier version of the deleted message is replayed')
    const fromEdit = await a.adapter.since('x', 3, epoch)
    t.notOk(fromEdit.recovered && fromEdit.messages.some((m) => m.text.includes('secret')), 'nor from a resume point after the first edit')
  })

  t.test(`${name}: a deletion a store numbered empties the edits, even one published after it`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    await join(a, 'y', member('c2', 'u2', 2))
    const msg = (seq: number, id: string) => ({ seq, id, text: `{"type":"message","room":"y","id":"${id}","seq":${seq},"epoch":"E1","content":"original-secret"}` })
    const edit = (seq: number, of: number, id: string) => ({
      seq,
      text: `{"type":"edited","room":"y","id":"${id}","seq":${seq},"epoch":"E1","userId":"u2","content":"edit-secret","meta":{"k":"edit-secret"},"editedAt":5}`,
      revises: { seq: of, text: `{"type":"message","room":"y","id":"${id}","seq":${of},"epoch":"E1","content":"edit-secret"}`, deleted: false }
    })
    const del = (seq: number, of: number, id: string) => ({
      seq,
      text: `{"type":"deleted","room":"y","id":"${id}","seq":${seq},"epoch":"E1","userId":"u2","deletedAt":6}`,
      revises: { seq: of, text: `{"type":"message","room":"y","id":"${id}","seq":${of},"epoch":"E1","content":"","deleted":true}`, deleted: true }
    })
    await a.adapter.publishStored('y', 'E1', [msg(1, 'a')])
    await a.adapter.publishStored('y', 'E1', [edit(2, 1, 'a')])
    await a.adapter.publishStored('y', 'E1', [del(3, 1, 'a')])
    const replay = await a.adapter.since('y', 0, 'E1')
    t.ok(replay.recovered)
    const texts = replay.recovered ? replay.messages.map((m) => m.text) : []
    t.same(texts.map((text) => JSON.parse(text).type), ['message', 'edited', 'deleted'])
    t.same(JSON.parse(texts[1]), { type: 'edited', room: 'y', id: 'a', seq: 2, epoch: 'E1', userId: 'u2', content: '', editedAt: 5 })
    t.notOk(texts.join('').includes('secret'), 'nothing of the deleted message is replayed')
    // Two processes: the deletion's commit handed over before the earlier edit's.
    await a.adapter.publishStored('y', 'E1', [msg(4, 'b')])
    await a.adapter.publishStored('y', 'E1', [del(6, 4, 'b')])
    await a.adapter.publishStored('y', 'E1', [edit(5, 4, 'b')])
    t.match(await a.adapter.find('y', 'b'), { text: /"deleted":true/ }, 'the late edit does not replace the tombstone')
    const late = await a.adapter.since('y', 3, 'E1')
    t.notOk(late.recovered && late.messages.some((m) => m.text.includes('secret')), 'nor is it replayed with its text')
    t.notOk((await a.adapter.history('y', { limit: 10 })).messages.some((m) => m.includes('secret')), 'history: tombstones only')
  })

  t.test(`${name}: events a store numbered (publishStored)`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    await join(a, 's', member('c2', 'u2', 2))
    const msg = (seq: number, id: string) => ({ seq, id, text: `{"id":"${id}","seq":${seq}}` })
    await a.adapter.publishStored('s', 'E1', [msg(1, 'a'), msg(2, 'b')])
    await eventually(() => a.node.deliveries.length >= 2)
    t.same(a.node.deliveries.map((d) => [d.seq, JSON.parse(d.frame).id]), [[1, 'a'], [2, 'b']], 'delivered with the store\'s seqs')
    t.match(await a.adapter.since('s', 0, 'E1'), { recovered: true, messages: [{ seq: 1 }, { seq: 2 }] }, 'kept in the hot window under the store\'s epoch')
    t.same(await a.adapter.find('s', 'b'), { seq: 2, epoch: 'E1', text: '{"id":"b","seq":2}' })
    // Another process's commit may be handed over after a newer one.
    await a.adapter.publishStored('s', 'E1', [msg(4, 'd')])
    await a.adapter.publishStored('s', 'E1', [msg(3, 'c')])
    await eventually(() => a.node.deliveries.length >= 4)
    t.same(a.node.deliveries.slice(2).map((d) => d.seq), [4, 3], 'both delivered (the node puts them in order)')
    const r = await a.adapter.since('s', 2, 'E1')
    if (r.recovered) t.same(r.messages.map((m) => m.seq), [3, 4], 'a window that kept both gives them in order')
    else t.pass('a window that could not keep the late one says so (the store serves the resume)')
    await a.adapter.publishStored('s', 'E1', [{ seq: 5, text: '{"change":"a"}', revises: { seq: 1, text: '{"id":"a","v":2}', deleted: false } }])
    t.same((await a.adapter.find('s', 'a'))?.text, '{"id":"a","v":2}', 'a change revises its message')
    t.same((await a.adapter.history('s', { after: 0, limit: 2 })).messages, ['{"id":"a","v":2}', '{"id":"b","seq":2}'], 'history: at the latest version, without the change')
    await a.adapter.publishStored('s', 'E2', [msg(1, 'z')])
    t.same(await a.adapter.since('s', 2, 'E1'), { recovered: false }, 'another epoch replaces the window')
    t.same((await a.adapter.history('s', { limit: 10 })).epoch, 'E2')
  })

  t.test(`${name}: effectively-once sends`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    await connect(a, 'c2', 'u2')
    const { epoch } = await join(a, 'b', member('c2', 'u2', 2))
    const first = await a.adapter.publishMessage('b', draft('m1', 'u1\nb\ns1'))
    t.same(await a.adapter.publishMessage('b', draft('m2', 'u1\nb\ns1')), { status: 'duplicate', id: 'm1', seq: 1, epoch }, 'a resend gets the original')
    t.same(await a.adapter.publishMessage('b', draft('m3', 'u1\nb\ns1', 'different')), { status: 'reused', id: 'm1', seq: 1, epoch }, 'the same ref saying something else is refused')
    t.equal((await a.adapter.publishMessage('b', draft('m4', 'u1\nb\ns2'))).seq, 2, 'another ref is another message')
    await eventually(() => a.node.deliveries.length >= 2)
    await eventually(() => false, 50)
    t.same(a.node.deliveries.map((d) => JSON.parse(d.frame).id), ['m1', 'm4'], 'the resend and the reused ref published nothing')
    t.equal(first.status, 'sent')
  })

  t.test(`${name}: one-time tickets`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    const tickets = a.adapter.tickets
    if (tickets === undefined) {
      t.pass('no ticket store of its own: the plugin keeps tickets in this process')
      return
    }
    await tickets.issue('t1', '{"sub":"u1"}', 60_000)
    t.equal(await tickets.redeem('t1'), '{"sub":"u1"}')
    t.equal(await tickets.redeem('t1'), null, 'a ticket works once')
    t.equal(await tickets.redeem('forged'), null)
    await tickets.issue('t2', '{"sub":"u2"}', 20)
    // Expiry is about time: let its 20 ms ttl pass.
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(await tickets.redeem('t2'), null, 'an expired ticket')
  })

  t.test(`${name}: pages of rooms and members`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    const names = Array.from({ length: 25 }, (_, i) => `room-${String(i).padStart(2, '0')}`)
    for (const [i, room] of names.entries()) await join(a, room, member(`${a.node.id}.c${i}`, `u${i}`, i))
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await a.adapter.rooms({ cursor, limit: 7 })
      t.ok(page.rooms.length <= 7, 'at most the limit')
      seen.push(...page.rooms.map((r) => r.name))
      cursor = page.cursor
      pages++
    } while (cursor !== undefined && pages < 10)
    t.same(seen, names, 'every room once, sorted by name, over the pages')
    t.equal(pages, 4)
    for (let i = 0; i < 25; i++) await join(a, 'big', member(`${a.node.id}.m${i}`, `u${i}`, 1000 + Math.floor(i / 3)))
    const got: string[] = []
    cursor = undefined
    pages = 0
    do {
      const page = await a.adapter.members('big', { cursor, limit: 4 })
      got.push(...page.members.map((m) => m.clientId))
      cursor = page.cursor
      pages++
    } while (cursor !== undefined && pages < 20)
    t.same(got, (await membersOf(a.adapter, 'big')).map((m) => m.clientId), 'every member once, in join order, even with equal join times')
    t.equal(new Set(got).size, 25)
    for (const bad of ['garbage', 'x:1', '12:', ':12', '1.5:2', 'big', '-1:1']) {
      await t.rejects(a.adapter.members('big', { cursor: bad, limit: 4 }), { code: 'FST_CHAT_INVALID_PAGE', statusCode: 400 }, `a members cursor it did not write (${bad}) is a bad page, not a backend error`)
    }
    for (const bad of ['not a room!', 'a\nb', 'x'.repeat(65)]) {
      await t.rejects(a.adapter.rooms({ cursor: bad, limit: 4 }), { code: 'FST_CHAT_INVALID_PAGE', statusCode: 400 }, 'a rooms cursor that is no room name is a bad page')
    }
  })

  t.test(`${name}: connections per user`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    const id = (i: number) => `${a.node.id}.x${i}`
    t.ok(await a.adapter.admit('u', id(1), 2))
    t.ok(await a.adapter.admit('u', id(2), 2))
    t.notOk(await a.adapter.admit('u', id(3), 2), 'over the limit')
    t.ok(await a.adapter.admit('other', id(4), 2), 'another user is not counted')
    await a.adapter.connect(id(1), 'u')
    await a.adapter.disconnect(id(1), 'u')
    t.ok(await a.adapter.admit('u', id(3), 2), 'a closed connection frees its place')
  })

  t.test(`${name}: stats and commands on one node`, async (t) => {
    const [a] = await nodes(t, backend, 1)
    // Rooms with members count where they live (none here); the rest is this process's own.
    const local = { connections: 2, rooms: 0, members: 2, messagesIn: 5, messagesOut: 7 }
    t.same(await a.adapter.stats(local), local, 'one process: its own counters')
    t.equal(await a.adapter.command('nobody', { op: 'join', room: 'a' }), 'not-found', 'a client no process holds')
  })

  for (const n of [1, 2, 3]) {
    t.test(`${name}: users in a room, on ${n} node(s): first connection in, last out, names`, async (t) => {
      const all = await nodes(t, backend, n)
      const on = (i: number) => all[i % n]
      const id = (i: number) => `${on(i).node.id}.k${i}`
      for (let i = 0; i < 4; i++) await connect(on(i), id(i), i < 3 ? 'ann' : 'bob')
      const ann = (i: number, at: number): Member => ({ clientId: id(i), userId: 'ann', name: 'Ann A.', joinedAt: at })
      t.match(await join(on(0), 'r', ann(0, 1)), { members: 1, users: 1, own: 1 }, 'a user\'s first connection')
      t.match(await join(on(1), 'r', ann(1, 2)), { members: 2, users: 1, own: 2 }, 'its second, on any node: the same user')
      t.match(await join(on(3), 'r', { clientId: id(3), userId: 'bob', joinedAt: 3 }), { members: 3, users: 2, own: 1 })
      t.match(await join(on(1), 'r', ann(1, 2)), { members: 3, users: 2, own: 2 }, 'a join again changes nothing')
      t.match(await join(on(2), 'r', ann(2, 4)), { members: 4, users: 2, own: 3 })
      t.same(await on(2).adapter.userConnections('r', ['ann', 'bob', 'nobody']), [3, 1, 0])
      t.same((await membersOf(on(1).adapter, 'r')).map((m) => [m.userId, m.name]), [['ann', 'Ann A.'], ['ann', 'Ann A.'], ['bob', undefined], ['ann', 'Ann A.']], 'names with the members')
      t.same(await leave(on(1), 'r', id(1)), { members: 3, users: 2, own: 2 })
      t.same(await leave(on(0), 'r', id(0)), { members: 2, users: 2, own: 1 })
      t.same(await leave(on(2), 'r', id(2)), { members: 1, users: 1, own: 0 }, 'the last connection of the user')
      t.same(await on(0).adapter.userConnections('r', ['ann', 'bob']), [0, 1])
      t.match(await join(on(0), 'r', { clientId: id(0), userId: 'ann', joinedAt: 9 }), { users: 2, own: 1 }, 'back: a first connection again')
      t.same((await membersOf(on(0).adapter, 'r')).map((m) => m.name), [undefined, undefined], 'a name leaves with the user')
      t.same(await leave(on(3), 'r', id(3)), { members: 1, users: 1, own: 0 })
      t.same(await leave(on(0), 'r', id(0)), { members: 0, users: 0, own: 0 })
    })
  }

  t.test(`${name}: bans and mutes, kept cluster-wide, each ending by itself`, async (t) => {
    const all = await nodes(t, backend, 2)
    const [a, b] = all
    const now = Date.now()
    await a.adapter.restrict({ kind: 'ban', userId: 'bob', room: 'r', reason: 'spam', at: now })
    await a.adapter.restrict({ kind: 'mute', userId: 'bob', at: now, until: now + 60_000 })
    await b.adapter.restrict({ kind: 'ban', userId: 'eve', room: 'r', at: now + 1, until: now + 150 })
    await b.adapter.restrict({ kind: 'ban', userId: 'old', room: 'r', at: now - 10, until: now - 1 })
    const admitted = await b.adapter.admit('bob', `${b.node.id}.x1`, 10)
    t.ok(admitted !== false, 'admitted')
    t.same((admitted as any[]).map((r) => [r.kind, r.room ?? '*']).sort(), [['ban', 'r'], ['mute', '*']], 'admission brings the user\'s restrictions, from any node')
    t.same(await a.adapter.admit('nobody', `${a.node.id}.x2`, 10), [], 'none for others')
    t.same((await a.adapter.userRestrictions('bob')).map((r) => [r.kind, r.room ?? '*', r.reason]).sort(), [['ban', 'r', 'spam'], ['mute', '*', undefined]], 'a user\'s restrictions, read without an admission')
    t.same(await b.adapter.userRestrictions('old'), [], 'not the expired ones')
    t.same(await b.adapter.userRestrictions('nobody'), [])
    t.same((await b.adapter.restrictions('ban', 'r')).map((r) => r.userId), ['bob', 'eve'], 'a room\'s bans in force, oldest first (not the expired one)')
    t.same(await a.adapter.restrictions('mute', 'r'), [], 'a chat-wide mute is not a room\'s')
    await eventually(() => false, 200)
    t.same((await a.adapter.restrictions('ban', 'r')).map((r) => r.userId), ['bob'], 'a ttl ends it by itself')
    t.same(await a.adapter.admit('eve', `${a.node.id}.x3`, 10), [], 'for admissions too')
    t.same(await a.adapter.userRestrictions('eve'), [], 'and a user\'s list')
    await a.adapter.restrict({ kind: 'ban', userId: 'bob', room: 'r', at: now + 1, until: now + 60_000 })
    t.match(await b.adapter.restrictions('ban', 'r'), [{ userId: 'bob', until: now + 60_000 }], 'the same kind, user and room: replaced')
    t.equal(await b.adapter.lift('ban', 'bob', 'r'), true)
    t.equal(await a.adapter.lift('ban', 'bob', 'r'), false, 'lifted once')
    t.equal(await a.adapter.lift('mute', 'bob', undefined), true)
    t.same(await a.adapter.admit('bob', `${a.node.id}.x4`, 10), [], 'nothing left')
    // Every connection of a user, wherever it is: admitted and still opening, then connected.
    await a.adapter.admit('dave', `${a.node.id}.d1`, 10)
    t.same(await b.adapter.clientsOf('dave'), [`${a.node.id}.d1`], 'an admitted connection counts from its admission, before it connects')
    await a.adapter.cancelAdmission('dave', `${a.node.id}.d1`)
    t.same(await b.adapter.clientsOf('dave'), [], 'not after it gave its place back')
    for (const [n, id] of [[a, `${a.node.id}.c1`], [b, `${b.node.id}.c2`]] as const) {
      await n.adapter.admit('carl', id, 10)
      await connect(n, id, 'carl')
    }
    t.same((await a.adapter.clientsOf('carl')).sort(), [`${a.node.id}.c1`, `${b.node.id}.c2`].sort())
    await b.adapter.disconnect(`${b.node.id}.c2`, 'carl')
    t.same(await b.adapter.clientsOf('carl'), [`${a.node.id}.c1`])
    t.same(await b.adapter.clientsOf('stranger'), [])
  })

  t.test(`${name}: direct conversations, and new ones per user and minute capped across nodes`, async (t) => {
    const [a, b] = await nodes(t, backend, 2)
    t.equal(await a.adapter.startConversation('dm:ab', 'alice', 'bob'), true)
    t.equal(await b.adapter.startConversation('dm:ab', 'bob', 'alice'), true, 'idempotent, either way round')
    t.same(await b.adapter.participants('dm:ab'), ['alice', 'bob'], 'sorted')
    t.equal(await a.adapter.participants('dm:none'), null)
    t.same((await b.adapter.conversations('bob')).map((c) => [c.room, c.with]), [['dm:ab', 'alice']])
    t.equal(await a.adapter.startConversation('dm:c1', 'carl', 'u1', 2), true)
    t.equal(await b.adapter.startConversation('dm:c2', 'carl', 'u2', 2), true)
    t.equal(await a.adapter.startConversation('dm:c3', 'carl', 'u3', 2), false, 'the third new one within a minute, on any node')
    t.equal(await b.adapter.participants('dm:c3'), null, 'nothing recorded past the cap')
    t.same((await b.adapter.conversations('u3')), [], 'nor in the other one\'s list')
    t.equal(await b.adapter.startConversation('dm:c1', 'carl', 'u1', 2), true, 'one it has is not counted')
    t.equal(await a.adapter.startConversation('dm:c1', 'u1', 'carl', 2), true, 'nor for the other participant')
    t.equal(await a.adapter.startConversation('dm:c4', 'dana', 'u4', 2), true, 'each user has a cap of its own')
    t.equal(await a.adapter.startConversation('dm:c5', 'carl', 'u5'), true, 'without a cap, none applies')
  })

  t.test(`${name}: read markers move forward only, per user; unread counts others' messages, not deleted ones`, async (t) => {
    const [a, b] = await nodes(t, backend, 2)
    t.same(await a.adapter.readMarkers('ann'), new Map(), 'none at first')
    t.same(await a.adapter.markRead('ann', 'r', 3, true), { seq: 3, moved: true }, 'init sets a marker the user lacks')
    t.same(await b.adapter.markRead('ann', 'r', 1, true), { seq: 3, moved: false }, 'init leaves one it has (on any node)')
    t.same(await b.adapter.markRead('ann', 'r', 2), { seq: 3, moved: false }, 'never backwards')
    t.same(await b.adapter.markRead('ann', 'r', 5), { seq: 5, moved: true })
    t.same(await a.adapter.markRead('ann', 'r', 5), { seq: 5, moved: false }, 'the same seq again does not move it')
    await a.adapter.markRead('ann', 'dm:x', 1)
    await a.adapter.markRead('bob', 'r', 9)
    t.same(await a.adapter.readMarkers('ann'), new Map([['r', 5], ['dm:x', 1]]), 'every marker of the user')
    t.same(await b.adapter.readMarkers('ann', ['r', 'nowhere']), new Map([['r', 5]]), 'or those asked for')
    t.same(await b.adapter.readMarkers('ann', []), new Map())

    await connect(a, 'c1', 'ann')
    await join(a, 'u', member('c1', 'ann', 1))
    const by = (user: string, id: string) => ({ id, head: `{"type":"message","room":"u","id":"${id}","seq":`, mid: ',"epoch":"', tail: `","from":"x","userId":${JSON.stringify(user)},"content":"say \\",\\"userId\\":\\"ann","meta":{"a":1,"userId":"bob"}}` })
    for (const [i, user] of ['bob', 'ann', 'bob', 'cat', 'ann', 'bob'].entries()) await a.adapter.publishMessage('u', by(user, `m${i + 1}`))
    t.same(await b.adapter.unread('u', 'ann', 0, 100), { seq: 6, unread: 4, complete: true }, 'the sender is the frame\'s userId, whatever content and meta say')
    t.same(await b.adapter.unread('u', 'bob', 0, 100), { seq: 6, unread: 3, complete: true })
    t.same(await b.adapter.unread('u', 'ann', 2, 100), { seq: 6, unread: 3, complete: true }, 'after the marker only')
    t.same(await b.adapter.unread('u', 'ann', 0, 2), { seq: 6, unread: 2, complete: true }, 'counting stops at the cap')
    t.same(await b.adapter.unread('u', 'ann', 6, 100), { seq: 6, unread: 0, complete: true }, 'read up to the newest')
    t.same(await b.adapter.unread('u', 'ann', 0, 0), { seq: 6, unread: 0, complete: true }, 'cap 0: only the newest seq')
    const asked: Array<[string, number, number]> = [['ann', 0, 100], ['bob', 2, 100], ['cat', 5, 100], ['ann', 3, 2], ['dan', 6, 100], ['ann', 0, 100]]
    const alone = []
    for (const [user, after, cap] of asked) alone.push(await b.adapter.unread('u', user, after, cap))
    t.same(await Promise.all(asked.map(async ([user, after, cap]) => await b.adapter.unread('u', user, after, cap))), alone, 'asked together (one call per room and turn on Redis), the same answers as asked alone')
    const { epoch } = await join(a, 'u', member('c1', 'ann', 1))
    await a.adapter.revise('u', { seq: 3, epoch, version: 'd', deleted: true, head: '{"change":"m3","seq":', mid: ',"epoch":"', tail: '"}' })
    t.same(await b.adapter.unread('u', 'ann', 0, 100), { seq: 7, unread: 3, complete: true }, 'a deleted message is not unread, nor is the deletion')
    t.same(await b.adapter.unread('nowhere', 'ann', 0, 100), { seq: 0, unread: 0, complete: true })
    // The history holds 10 (node.history.size) to 20: the oldest are trimmed.
    for (let i = 0; i < 30; i++) await a.adapter.publishMessage('u', by('bob', `n${i}`))
    const trimmed = await b.adapter.unread('u', 'ann', 0, 100)
    t.equal(trimmed.seq, 37)
    t.equal(trimmed.complete, false, 'events after the marker were trimmed: the count is of what is held')
    t.ok(trimmed.unread >= 10 && trimmed.unread <= 20, `counts what is held (${trimmed.unread})`)
  })

  t.test(`${name}: room signals reach the other nodes with members, not the sender`, async (t) => {
    const [a, b, c] = await nodes(t, backend, 3)
    for (const [n, i] of [[a, 1], [b, 2], [c, 3]] as const) {
      await connect(n, `${n.node.id}.s${i}`, `u${i}`)
      if (i < 3) await join(n, 'sig', member(`${n.node.id}.s${i}`, `u${i}`, i))
    }
    await a.adapter.signal('sig', '{"x":1}')
    await b.adapter.signal('sig', '{"x":2}')
    await eventually(() => a.node.signals.length >= 1 && b.node.signals.length >= 1)
    await eventually(() => false, 100)
    t.same(a.node.signals, [{ room: 'sig', data: '{"x":2}' }], 'the other node hears it')
    t.same(b.node.signals, [{ room: 'sig', data: '{"x":1}' }])
    t.same(c.node.signals, [], 'a node without members there does not')
  })

  for (const n of [2, 3]) {
    t.test(`${name}: ${n} nodes are one chat`, async (t) => {
      const all = await nodes(t, backend, n)
      // A clientId names the process holding it, so that any process can route a command to it.
      const ids = all.map((a, i) => `${a.node.id}.c${i}`)
      for (let i = 0; i < n; i++) await connect(all[i], ids[i], `u${i}`)
      for (let i = 0; i < n; i++) t.equal((await join(all[i], 'r', member(ids[i], `u${i}`, 10 + i))).members, i + 1, `the join on node ${i} counts every node's members`)
      await join(all[0], 'only-0', member(ids[0], 'u0', 50))
      for (const { adapter } of all) {
        t.same(await roomsOf(adapter), [{ name: 'only-0', members: 1 }, { name: 'r', members: n }], 'every node sees every room')
        t.same((await membersOf(adapter, 'r')).map((m) => m.clientId), ids, 'and every member, in join order')
      }

      // A message from any node reaches every node with members exactly once, in seq order.
      const sent = []
      for (let i = 0; i < 4 * n; i++) sent.push(await all[i % n].adapter.publishMessage('r', draft(`m${i}`)))
      t.same(sent.map((p) => p.seq), Array.from({ length: 4 * n }, (_, i) => i + 1), 'one sequence for the room, whichever node publishes')
      await all[n - 1].adapter.publish('only-0', '{"only":0}')
      for (const { node } of all) await eventually(() => node.deliveries.filter((d) => d.room === 'r').length >= 4 * n)
      await eventually(() => false, 100)
      for (let i = 0; i < n; i++) {
        const got = all[i].node.deliveries
        t.same(got.filter((d) => d.room === 'r').map((d) => d.seq), sent.map((p) => p.seq), `node ${i}: each once, in order`)
        t.equal(got.filter((d) => d.room === 'only-0').length, i === 0 ? 1 : 0, `node ${i}: only rooms it has members in`)
      }
      const dup = await all[n - 1].adapter.publishMessage('r', draft('again', 'u0\nr\ns1'))
      t.same(await all[0].adapter.publishMessage('r', draft('again2', 'u0\nr\ns1')), { ...dup, status: 'duplicate' }, 'a resend on another node gets the original')
      const epoch = sent[0].epoch
      t.match(await all[n - 1].adapter.since('r', 0, epoch), { recovered: true, messages: { length: 4 * n + 1 } }, 'history from any node')

      // Commands reach the node holding the client; stats sum every node.
      t.equal(await all[0].adapter.command(ids[n - 1], { op: 'leave', room: 'r' }), 'left')
      t.same(all[n - 1].node.commands, [{ clientId: ids[n - 1], command: { op: 'leave', room: 'r' } }], 'run by its holder')
      t.equal(await all[0].adapter.command('nobody', { op: 'leave', room: 'r' }), 'not-found')
      t.equal(await all[0].adapter.command(`${all[n - 1].node.id}.gone`, { op: 'leave', room: 'r' }), 'not-found', 'a client its process does not hold')
      for (let i = 0; i < n; i++) all[i].node.counters = { connections: 1, rooms: 1, members: 1, messagesIn: i, messagesOut: 10 * i }
      const total = await all[0].adapter.stats(all[0].node.counters)
      t.match(total, { connections: n, members: n, messagesIn: (n * (n - 1)) / 2, messagesOut: (10 * n * (n - 1)) / 2, rooms: 2 }, 'stats sum the nodes')

      const tickets = [all[0].adapter.tickets, all[n - 1].adapter.tickets]
      if (tickets[0] !== undefined && tickets[1] !== undefined) {
        await tickets[0].issue('shared', '{"sub":"x"}', 60_000)
        t.equal(await tickets[1].redeem('shared'), '{"sub":"x"}', 'a ticket minted on one node is redeemed on another')
        t.equal(await tickets[0].redeem('shared'), null, 'once, cluster-wide')
      }

      // One user's connections count across the nodes.
      t.ok(await all[0].adapter.admit('many', `${all[0].node.id}.m1`, 2))
      t.ok(await all[n - 1].adapter.admit('many', `${all[n - 1].node.id}.m2`, 2))
      t.notOk(await all[1].adapter.admit('many', `${all[1].node.id}.m3`, 2), 'the third, on any node, is over the limit')
      await all[0].adapter.connect(`${all[0].node.id}.m1`, 'many')
      await all[0].adapter.disconnect(`${all[0].node.id}.m1`, 'many')
      t.ok(await all[1].adapter.admit('many', `${all[1].node.id}.m3`, 2), 'a closed one frees its place everywhere')

      for (let i = 0; i < n; i++) await leave(all[i], 'r', ids[i])
      await leave(all[0], 'only-0', ids[0])
      for (const { adapter } of all) t.same(await roomsOf(adapter), [], 'all gone, everywhere')
    })
  }
}

// The contract every store must meet, run by each implementation's own test file on fresh stores.
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { ChatStore, StoreMessage } from '../lib/store/contract.js'

/** Makes a fresh, empty store; `second` opens another instance on the same data (another process). */
export interface StoreBackend {
  open: (t: Test) => Promise<{ store: ChatStore, second: () => Promise<ChatStore> }>
}

const TTL = 60_000

function msg (room: string, content: string, extra: Partial<StoreMessage> = {}): StoreMessage {
  return { room, id: randomUUID(), userId: 'alice', from: 'c1', content, timestamp: Date.now(), ...extra }
}

export function storeContract (t: Test, backend: StoreBackend): void {
  t.test('numbers each room 1, 2, 3 in the order given, in one epoch per room', async (t) => {
    const { store } = await backend.open(t)
    const before = await store.state('a')
    t.same(before.seq, 0, 'a room never written to is at seq 0')
    t.equal((await store.state('a')).epoch, before.epoch, 'and keeps its epoch while nothing is written')
    const r = await store.append([msg('a', '1'), msg('b', '1'), msg('a', '2'), msg('a', '3'), msg('b', '2')], TTL)
    t.same(r.map((p) => [p.status, p.seq]), [['sent', 1], ['sent', 1], ['sent', 2], ['sent', 3], ['sent', 2]])
    t.equal(r[0].epoch, before.epoch, 'the epoch a room had before its first message is the one it keeps')
    t.equal(r[0].epoch, r[2].epoch)
    t.not(r[0].epoch, r[1].epoch, 'rooms have epochs of their own')
    const again = await store.append([msg('a', '4')], TTL)
    t.same([again[0].seq, again[0].epoch], [4, before.epoch])
    t.same(await store.state('a'), { seq: 4, epoch: before.epoch })
  })

  t.test('keeps what a message says: sender, name, content, meta, time', async (t) => {
    const { store } = await backend.open(t)
    const m = msg('r', 'héllo 👋 "quoted"', { name: 'Alice', meta: { replyTo: 'x', mentions: ['bob'], file: { url: 'https://x/y', size: 3 } }, timestamp: 1_700_000_000_123 })
    const [p] = await store.append([m], TTL)
    t.equal(p.id, m.id, 'the id given is kept')
    const kept = await store.message('r', m.id)
    t.same(kept, { kind: 'message', room: 'r', seq: 1, epoch: p.epoch, id: m.id, userId: 'alice', from: 'c1', name: 'Alice', content: m.content, meta: m.meta, timestamp: 1_700_000_000_123 })
    t.equal(await store.message('other', m.id), null, 'a message is found in its own room only')
    t.equal(await store.message('r', randomUUID()), null)
    t.equal(await store.message('r', 'not-an-id'), null, 'an id the store never made names nothing (and is no error)')
    const dm = msg('dm:x', 'psst', { to: 'bob' })
    await store.append([dm], TTL)
    t.match(await store.message('dm:x', dm.id), { to: 'bob', content: 'psst' }, 'a direct message keeps its recipient')
    t.match((await store.events('dm:x', 0, 10)).events, [{ to: 'bob' }], 'in a resume too')
  })

  t.test('a resend with the same ref is not kept twice; a ref reused for another message is told', async (t) => {
    const { store } = await backend.open(t)
    const first = msg('r', 'hi', { ref: 's1', digest: 'd1' })
    const [sent] = await store.append([first], TTL)
    const r = await store.append([
      msg('r', 'hi', { ref: 's1', digest: 'd1' }),
      msg('r', 'other', { ref: 's1', digest: 'd2' }),
      msg('r', 'hi', { ref: 's1', digest: 'd1', userId: 'bob' }),
      msg('r2', 'hi', { ref: 's1', digest: 'd1' }),
      msg('r', 'new', { ref: 'n1', digest: 'd3' }),
      msg('r', 'new', { ref: 'n1', digest: 'd3' })
    ], TTL)
    t.same(r.map((p) => p.status), ['duplicate', 'reused', 'sent', 'sent', 'sent', 'duplicate'])
    t.same([r[0].id, r[0].seq], [sent.id, 1], 'a duplicate gets the first send\'s id and seq')
    t.same([r[1].id, r[1].seq], [sent.id, 1], 'so does a reused ref')
    t.equal(r[2].seq, 2, 'refs are per user')
    t.equal(r[3].seq, 1, 'and per room')
    t.same([r[5].id, r[5].seq], [r[4].id, r[4].seq], 'a resend within the same batch is a duplicate of the first')
    t.equal((await store.state('r')).seq, 3, 'no seq is used by a duplicate')
    const old = msg('r', 'old', { ref: 'o1', digest: 'd4', timestamp: Date.now() - 20_000 })
    await store.append([old], TTL)
    const [later] = await store.append([msg('r', 'old', { ref: 'o1', digest: 'd4' })], 10_000)
    t.equal(later.status, 'sent', 'a ref older than the ttl is forgotten: the same ref is a new message')
  })

  t.test('within one batch: messages without a ref are each new; a ref given twice answers as its first', async (t) => {
    const { store } = await backend.open(t)
    const r = await store.append([
      msg('r', 'a'), msg('r', 'b'),
      msg('r', 'x', { ref: 'n2', digest: 'd5' }), msg('r', 'c'),
      msg('r', 'y', { ref: 'n2', digest: 'd6' }), msg('r', 'x', { ref: 'n2', digest: 'd5' }),
      msg('r', 'd')
    ], TTL)
    t.same(r.map((p) => [p.status, p.seq]), [['sent', 1], ['sent', 2], ['sent', 3], ['sent', 4], ['reused', 3], ['duplicate', 3], ['sent', 5]])
    t.equal(new Set(r.filter((p) => p.status === 'sent').map((p) => p.id)).size, 5, 'each new message its own id')
    t.same([r[4].id, r[5].id], [r[2].id, r[2].id])
    t.equal((await store.state('r')).seq, 5)
  })

  t.test('events: every kind in seq order from any point, messages at their latest version', async (t) => {
    const { store } = await backend.open(t)
    const [a, b, c] = await store.append([msg('r', 'a', { meta: { k: 1 } }), msg('r', 'b'), msg('r', 'c')], TTL)
    const edited = await store.edit('r', a.id, { userId: 'alice', from: 'c2', at: 1000, content: 'a2', meta: { k: 2 } })
    t.match(edited, { kind: 'edited', room: 'r', seq: 4, epoch: a.epoch, id: a.id, userId: 'alice', from: 'c2', content: 'a2', meta: { k: 2 }, timestamp: 1000 })
    const deleted = await store.delete('r', b.id, { userId: 'root', from: 'server', at: 2000 })
    t.match(deleted, { kind: 'deleted', seq: 5, id: b.id, userId: 'root', content: '' })
    const all = await store.events('r', 0, 100)
    t.same([all.seq, all.epoch], [5, a.epoch])
    t.same(all.events.map((e) => [e.kind, e.seq, e.id]), [['message', 1, a.id], ['message', 2, b.id], ['message', 3, c.id], ['edited', 4, a.id], ['deleted', 5, b.id]])
    t.match(all.events[0], { content: 'a2', meta: { k: 2 }, editedAt: 1000 }, 'a message replays at its latest version')
    t.same([all.events[1].content, all.events[1].meta, all.events[1].deletedAt], ['', undefined, 2000], 'a deleted one as a tombstone')
    t.same((await store.events('r', 2, 2)).events.map((e) => e.seq), [3, 4], 'from a point, at most limit')
    t.same((await store.events('r', 5, 10)).events, [], 'nothing after the newest')
    const none = await store.events('nowhere', 0, 10)
    t.same([none.seq, none.events, none.epoch], [0, [], (await store.state('nowhere')).epoch])
  })

  t.test('edit and delete: only messages that exist and are not deleted; a deletion removes every version', async (t) => {
    const { store } = await backend.open(t)
    const [a] = await store.append([msg('r', 'secret')], TTL)
    t.equal(await store.edit('r', randomUUID(), { userId: 'alice', from: 'c', at: 1, content: 'x' }), null, 'no such message')
    t.equal(await store.edit('elsewhere', a.id, { userId: 'alice', from: 'c', at: 1, content: 'x' }), null, 'not in that room')
    t.equal(await store.delete('r', 'nope', { userId: 'alice', from: 'c', at: 1 }), null)
    await store.edit('r', a.id, { userId: 'alice', from: 'c', at: 1, content: 'still secret' })
    t.ok(await store.delete('r', a.id, { userId: 'alice', from: 'c', at: 2 }))
    t.equal(await store.delete('r', a.id, { userId: 'alice', from: 'c', at: 3 }), null, 'a deleted message cannot be deleted again')
    t.equal(await store.edit('r', a.id, { userId: 'alice', from: 'c', at: 3, content: 'back' }), null, 'nor edited')
    const { events } = await store.events('r', 0, 10)
    t.same(events.map((e) => [e.kind, e.content]), [['message', ''], ['edited', ''], ['deleted', '']], 'no version of the text is left')
    t.equal((await store.state('r')).seq, 3, 'refused changes use no seq')
  })

  t.test('messages: pages of the history, each message once at its latest version', async (t) => {
    const { store } = await backend.open(t)
    const sent = await store.append(Array.from({ length: 10 }, (_, i) => msg('r', `m${i + 1}`)), TTL)
    await store.edit('r', sent[1].id, { userId: 'alice', from: 'c', at: 5, content: 'm2 edited' })
    await store.delete('r', sent[2].id, { userId: 'alice', from: 'c', at: 6 })
    await store.append([msg('r', 'm13')], TTL)
    const seqs = (p: { messages: Array<{ seq: number }> }): number[] => p.messages.map((m) => m.seq)
    t.same(seqs(await store.messages('r', { limit: 3 })), [9, 10, 13], 'neither after nor before: the newest page, oldest first')
    t.same(seqs(await store.messages('r', { after: 0, limit: 3 })), [1, 2, 3])
    t.same(seqs(await store.messages('r', { after: 10, limit: 3 })), [13], 'edits and deletions are not messages')
    t.same(seqs(await store.messages('r', { before: 9, limit: 2 })), [7, 8])
    const page = await store.messages('r', { after: 1, limit: 2 })
    t.match(page.messages, [{ content: 'm2 edited', editedAt: 5 }, { content: '', deletedAt: 6 }])
    t.equal(page.epoch, sent[0].epoch)
    t.same(await store.messages('empty', { limit: 5 }), { epoch: (await store.state('empty')).epoch, messages: [] })
  })

  t.test('read markers: forward only, per user and room, kept by every instance; unread counts others\' messages, not deleted ones', async (t) => {
    const { store, second } = await backend.open(t)
    const other = await second()
    t.same(await store.readMarkers('ann'), new Map())
    t.same(await store.markRead('ann', 'r', 3, true), { seq: 3, moved: true })
    t.same(await other.markRead('ann', 'r', 1, true), { seq: 3, moved: false }, 'init leaves a marker the user has')
    t.same(await other.markRead('ann', 'r', 2), { seq: 3, moved: false }, 'never backwards')
    t.same(await other.markRead('ann', 'r', 4), { seq: 4, moved: true })
    t.same(await store.markRead('ann', 'r', 4), { seq: 4, moved: false })
    await store.markRead('ann', 'dm:x', 2)
    await store.markRead('bob', 'r', 9)
    t.same(await other.readMarkers('ann'), new Map([['r', 4], ['dm:x', 2]]))
    t.same(await other.readMarkers('ann', ['dm:x', 'nowhere']), new Map([['dm:x', 2]]))
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => await (i % 2 === 0 ? store : other).markRead('cat', 'r', i + 1)))
    t.equal(Math.max(...results.map((r) => r.seq)), 20)
    t.same(await store.readMarkers('cat'), new Map([['r', 20]]), 'marks at once from two instances: the highest wins')

    const sent = await store.append(['bob', 'ann', 'bob', 'cat', 'ann', 'bob'].map((userId, i) => msg('u', `m${i}`, { userId })), TTL)
    t.same(await other.unread('u', 'ann', 0, 100), { seq: 6, unread: 4 })
    t.same(await other.unread('u', 'ann', 2, 100), { seq: 6, unread: 3 })
    t.same(await other.unread('u', 'ann', 0, 2), { seq: 6, unread: 2 }, 'counting stops at the cap')
    t.same(await other.unread('u', 'ann', 0, 0), { seq: 6, unread: 0 })
    await store.delete('u', sent[2].id, { userId: 'bob', from: 'c', at: Date.now() })
    t.same(await other.unread('u', 'ann', 0, 100), { seq: 7, unread: 3 }, 'a deleted message is not unread, nor is the deletion')
    t.same(await other.unread('nowhere', 'ann', 0, 100), { seq: 0, unread: 0 })
  })

  t.test('two instances appending to the same rooms at once: gapless seqs, no deadlock', async (t) => {
    const { store, second } = await backend.open(t)
    const other = await second()
    const rooms = Array.from({ length: 30 }, (_, i) => `room-${i}`)
    const batch = (from: string, order: string[]): StoreMessage[] => order.flatMap((room) => [msg(room, from), msg(room, from)])
    const rounds = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
      await (i % 2 === 0 ? store : other).append(batch(`s${i}`, i % 4 < 2 ? rooms : [...rooms].reverse()), TTL)))
    for (const room of rooms) {
      const { events } = await store.events(room, 0, 100)
      t.same(events.map((e) => e.seq), Array.from({ length: 16 }, (_, i) => i + 1), `${room}: 1..16`)
    }
    const seqs = rounds.flat().map((p) => p.seq)
    t.equal(seqs.length, 8 * 60)
  })
}

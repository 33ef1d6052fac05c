// The contract every store of room records meets (store/rooms-contract.ts), run by each
// implementation's test file on fresh stores.
import type { Test } from 'tap'
import type { RoomRecord, RoomStore } from '../lib/store/rooms-contract.js'

export interface RoomStoreBackend {
  /** A fresh, empty store; `second` another instance on the same data (another process), if it has one. */
  open: (t: Test) => Promise<{ store: RoomStore, second?: () => Promise<RoomStore> }>
}

const record = (room: string, extra: Partial<RoomRecord> = {}): RoomRecord =>
  ({ room, kind: 'private', createdAt: 1000, archived: false, history: 'shared', ...extra })

export function roomStoreContract (t: Test, backend: RoomStoreBackend): void {
  t.test('a room is created once, with its first members; its record reads back as written', async (t) => {
    const { store } = await backend.open(t)
    t.equal(await store.room('team'), null, 'no record: a room joined by name only')
    const r = record('team', { title: 'Team', topic: 'all things team', meta: { color: 'blue', n: [1, 2] }, createdBy: 'ann' })
    t.equal(await store.createRoom(r, [{ userId: 'ann', role: 'owner' }, { userId: 'bob', role: 'member' }], 2000), 'created')
    t.same(await store.room('team'), r)
    t.equal(await store.createRoom(record('team', { title: 'Other' }), [{ userId: 'eve', role: 'owner' }], 3000), 'exists', 'a second create changes nothing')
    t.same(await store.room('team'), r)
    t.equal(await store.member('team', 'eve'), null)
    t.same(await store.member('team', 'ann'), { room: 'team', userId: 'ann', role: 'owner', joinedSeq: 0, joinedAt: 2000 })
    t.same((await store.members('team', undefined, 10)).items.map((m) => [m.userId, m.role]), [['ann', 'owner'], ['bob', 'member']])
    const hosts = record('by-host')
    t.equal(await store.createRoom(hosts, [], 1), 'created', 'the host may make a room with no member')
    t.same(await store.room('by-host'), hosts, 'with no createdBy')
    t.same((await store.members('by-host', undefined, 10)).items, [])
  })

  t.test('a record changes field by field: set, cleared, archived', async (t) => {
    const { store } = await backend.open(t)
    await store.createRoom(record('r', { title: 'A', topic: 'B', meta: { x: 1 } }), [], 1)
    t.match(await store.updateRoom('r', { title: 'A2' }), { title: 'A2', topic: 'B', meta: { x: 1 } })
    const cleared = await store.updateRoom('r', { topic: null, meta: null })
    t.equal(cleared?.topic, undefined)
    t.equal(cleared?.meta, undefined)
    t.match(await store.updateRoom('r', { archived: true }), { archived: true, title: 'A2' })
    t.match(await store.room('r'), { archived: true, title: 'A2' })
    t.equal(await store.updateRoom('none', { title: 'x' }), null, 'no record, nothing to change')
  })

  t.test('members: added once, in join order, paged; roles change; a user\'s rooms', async (t) => {
    const { store } = await backend.open(t)
    await store.createRoom(record('r'), [{ userId: 'o', role: 'owner' }], 1)
    for (let i = 0; i < 7; i++) t.match(await store.addMember('r', `u${i}`, 'member', 10 + i, 100 + i), { added: true, member: { userId: `u${i}`, joinedSeq: 10 + i } })
    t.same(await store.addMember('r', 'u3', 'moderator', 99, 999), { added: false, member: { room: 'r', userId: 'u3', role: 'member', joinedSeq: 13, joinedAt: 103 } }, 'a member keeps its role and join seq')
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await store.members('r', cursor, 3)
      seen.push(...page.items.map((m) => m.userId))
      cursor = page.cursor
      pages++
    } while (cursor !== undefined && pages < 10)
    t.same(seen, ['o', 'u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'], 'join order, every member once, over pages')
    t.equal(pages, 3)
    t.match(await store.setRole('r', 'u2', 'moderator'), { userId: 'u2', role: 'moderator' })
    t.equal(await store.setRole('r', 'nobody', 'member'), null)
    t.equal(await store.setRole('r', 'o', 'member'), 'last-owner', 'the last owner stays one')
    t.match(await store.setRole('r', 'u4', 'owner'), { role: 'owner' })
    t.match(await store.setRole('r', 'o', 'member'), { role: 'member' }, 'with another owner, it may step down')

    await store.createRoom(record('a-room'), [{ userId: 'u1', role: 'owner' }], 1)
    await store.createRoom(record('z-room'), [{ userId: 'u1', role: 'member' }], 1)
    const mine = await store.roomsOf('u1', undefined, 2)
    t.same(mine.items.map((m) => m.room), ['a-room', 'r'], 'a user\'s rooms in name order')
    t.ok(mine.cursor)
    const rest = await store.roomsOf('u1', mine.cursor, 2)
    t.same(rest.items.map((m) => [m.room, m.role]), [['z-room', 'member']])
    t.equal(rest.cursor, undefined, 'the last page has no cursor')
    t.same((await store.roomsOf('stranger', undefined, 10)).items, [])
  })

  t.test('removal: a room always keeps an owner (the longest-standing moderator, else member)', async (t) => {
    const { store } = await backend.open(t)
    await store.createRoom(record('r'), [{ userId: 'own', role: 'owner' }], 1)
    await store.addMember('r', 'm1', 'member', 0, 10)
    await store.addMember('r', 'mod2', 'moderator', 0, 20)
    await store.addMember('r', 'mod3', 'moderator', 0, 30)
    t.same(await store.removeMember('r', 'nobody'), { removed: false, empty: false })
    t.match(await store.removeMember('r', 'own'), { removed: true, empty: false, newOwner: { userId: 'mod2', role: 'owner' } }, 'the first moderator inherits')
    t.match(await store.member('r', 'mod2'), { role: 'owner' })
    t.match(await store.removeMember('r', 'mod3'), { removed: true, newOwner: undefined }, 'a moderator leaving changes no owner')
    t.match(await store.removeMember('r', 'mod2'), { removed: true, newOwner: { userId: 'm1', role: 'owner' } }, 'no moderator: the longest-standing member')
    t.same(await store.removeMember('r', 'm1'), { removed: true, empty: true }, 'the last one out leaves it empty')
    t.ok(await store.room('r'), 'and its record stays')
    t.same((await store.roomsOf('m1', undefined, 10)).items, [], 'nor is it in the user\'s rooms')
    t.match(await store.addMember('r', 'm1', 'owner', 5, 50), { added: true }, 'a member may come back')
  })

  t.test('invites: once, not to members, used up by joining, declined, listed per user', async (t) => {
    const { store } = await backend.open(t)
    await store.createRoom(record('r'), [{ userId: 'own', role: 'owner' }], 1)
    await store.createRoom(record('s'), [{ userId: 'own', role: 'owner' }], 1)
    t.equal(await store.invite('r', 'own', 'own', 5), 'member')
    t.equal(await store.invite('r', 'ann', 'own', 10), 'invited')
    t.equal(await store.invite('r', 'ann', 'bob', 11), 'already')
    t.equal(await store.invite('s', 'ann', undefined, 20), 'invited')
    t.same(await store.invitation('r', 'ann'), { room: 'r', userId: 'ann', by: 'own', at: 10 })
    t.same(await store.invites('ann'), [{ room: 's', userId: 'ann', at: 20 }, { room: 'r', userId: 'ann', by: 'own', at: 10 }], 'newest first; the host\'s has no by')
    t.equal(await store.decline('s', 'ann'), true)
    t.equal(await store.decline('s', 'ann'), false, 'declined once')
    await store.addMember('r', 'ann', 'member', 3, 30)
    t.equal(await store.invitation('r', 'ann'), null, 'joining uses the invite up')
    t.same(await store.invites('ann'), [])
  })

  t.test('another instance on the same data sees the same records', async (t) => {
    const { store, second } = await backend.open(t)
    if (second === undefined) { t.pass('one instance per process: nothing to share'); return }
    const other = await second()
    await store.createRoom(record('shared', { title: 'S' }), [{ userId: 'ann', role: 'owner' }], 1)
    t.match(await other.room('shared'), { title: 'S' })
    t.equal(await other.createRoom(record('shared'), [], 2), 'exists')
    t.match(await other.addMember('shared', 'bob', 'member', 1, 2), { added: true })
    t.same((await store.members('shared', undefined, 10)).items.map((m) => m.userId), ['ann', 'bob'])
    // Two processes adding the same member at once: one adds it.
    const both = await Promise.all([store.addMember('shared', 'cy', 'member', 1, 3), other.addMember('shared', 'cy', 'member', 1, 3)])
    t.same(both.map((b) => b.added).sort(), [false, true])
  })
}

// Edit and delete: by the author, by an admin, or as canEdit/canDelete say; each a new event of
// the room with its own seq, replayed on resume; history gives each message once at its latest
// version, a deleted one as a tombstone. With every history: memory, Redis, the store.
import t from 'tap'
import { build, connect, token } from './helpers.js'
import { VARIANTS } from './variants.js'

for (const variant of VARIANTS) {
  t.test(variant.name, async (t) => {
    if (!await variant.ready(t)) return

    t.test('the author edits and deletes; everyone sees it; history keeps the latest version', async (t) => {
      const events: any[] = []
      const app = await build(t, { rateLimit: false, ...variant.options(t) })
      app.chat.on('edited', (e) => { events.push(['edited', e.id, e.content, e.user?.sub]) })
      app.chat.on('deleted', (e) => { events.push(['deleted', e.id, e.user?.sub]) })
      const alice = await connect(app, token({ sub: 'alice' }))
      const bob = await connect(app, token({ sub: 'bob' }))
      const m1 = await alice.request({ action: 'message', room: 'lobby', content: 'helo', meta: { replyTo: 'x' } })
      const m2 = await alice.request({ action: 'message', room: 'lobby', content: 'secret' })
      await bob.next('message'); await bob.next('message')

      const edit = await alice.request({ action: 'edit', room: 'lobby', id: m1.id, content: 'hello' })
      t.match(edit, { type: 'ack', id: m1.id, seq: 3 })
      const edited = await bob.next('edited')
      t.match(edited, { type: 'edited', room: 'lobby', id: m1.id, seq: 3, userId: 'alice', content: 'hello', meta: { replyTo: 'x' }, editedAt: Number, epoch: String })
      const del = await alice.request({ action: 'delete', room: 'lobby', id: m2.id })
      t.match(del, { type: 'ack', id: m2.id, seq: 4 })
      const deleted = await bob.next('deleted')
      t.same(Object.keys(deleted).sort(), ['deletedAt', 'epoch', 'id', 'room', 'seq', 'type', 'userId'])
      t.match(deleted, { id: m2.id, seq: 4, userId: 'alice' })

      const history = (await app.chat.history('lobby')).messages
      t.equal(history.length, 2, 'each message once: edits and deletions are not messages of the history')
      t.match(history[0], { id: m1.id, seq: 1, content: 'hello', meta: { replyTo: 'x' }, editedAt: edited.editedAt })
      t.match(history[1], { id: m2.id, seq: 2, content: '', deleted: true, deletedAt: deleted.deletedAt })
      t.notOk('meta' in history[1], 'a tombstone has no meta')

      t.match(await alice.request({ action: 'edit', room: 'lobby', id: m2.id, content: 'back' }), { code: 'NOT_FOUND' }, 'a deleted message cannot be edited')
      t.match(await alice.request({ action: 'delete', room: 'lobby', id: m2.id }), { code: 'NOT_FOUND' }, 'nor deleted again')
      t.match(await alice.request({ action: 'edit', room: 'lobby', id: '00000000-0000-0000-0000-000000000000', content: 'x' }), { code: 'NOT_FOUND' })
      t.match(await alice.request({ action: 'edit', room: 'lobby', id: 'not even an id', content: 'x' }), { code: 'NOT_FOUND' })
      t.match(await alice.request({ action: 'edit', room: 'other', id: m1.id, content: 'x' }), { code: 'NOT_A_MEMBER' })
      t.match(await alice.request({ action: 'message', room: 'lobby', content: 'next' }), { seq: 5 }, 'refused changes used no seq')
      t.same(events, [['edited', m1.id, 'hello', 'alice'], ['deleted', m2.id, 'alice']])
      alice.close(); bob.close()
    })

    t.test('others may not, admins may, and canEdit/canDelete decide when given', async (t) => {
      const app = await build(t, { ...variant.options(t) })
      const alice = await connect(app, token({ sub: 'alice' }))
      const bob = await connect(app, token({ sub: 'bob' }))
      const root = await connect(app, token({ sub: 'root', role: 'admin' }))
      const m = await alice.request({ action: 'message', room: 'lobby', content: 'hi' })
      t.same(await bob.request({ action: 'edit', room: 'lobby', id: m.id, content: 'mine now', ref: 'e' }), { type: 'error', code: 'FORBIDDEN', message: 'you may not edit this message', ref: 'e' })
      t.match(await bob.request({ action: 'delete', room: 'lobby', id: m.id }), { code: 'FORBIDDEN' })
      t.match(await root.request({ action: 'edit', room: 'lobby', id: m.id, content: 'moderated' }), { type: 'ack' })
      t.match(await root.request({ action: 'delete', room: 'lobby', id: m.id }), { type: 'ack' })
      alice.close(); bob.close(); root.close()

      const seen: any[] = []
      const ruled = await build(t, {
        ...variant.options(t),
        canEdit: (user, message) => { seen.push(message); return user.sub === 'editor' },
        canDelete: async (user) => user.sub === 'alice'
      })
      const a = await connect(ruled, token({ sub: 'alice' }))
      const e = await connect(ruled, token({ sub: 'editor' }))
      const m2 = await a.request({ action: 'message', room: 'lobby', content: 'draft', meta: { v: 1 } })
      t.match(await a.request({ action: 'edit', room: 'lobby', id: m2.id, content: 'x' }), { code: 'FORBIDDEN' }, 'canEdit replaces the default rule: not even the author')
      t.match(seen[0], { room: 'lobby', id: m2.id, seq: 1, userId: 'alice', content: 'draft', meta: { v: 1 }, timestamp: Number })
      t.match(await e.request({ action: 'edit', room: 'lobby', id: m2.id, content: 'final' }), { type: 'ack' })
      t.match(await e.request({ action: 'delete', room: 'lobby', id: m2.id }), { code: 'FORBIDDEN' })
      t.match(await a.request({ action: 'delete', room: 'lobby', id: m2.id }), { type: 'ack' })
      a.close(); e.close()
    })

    t.test('edits and deletions are replayed on resume, in order, with messages at their latest version', async (t) => {
      const app = await build(t, { ...variant.options(t) })
      const alice = await connect(app, token({ sub: 'alice' }))
      const m1 = await alice.request({ action: 'message', room: 'lobby', content: 'one' })
      const first = await alice.next('message')
      const m2 = await alice.request({ action: 'message', room: 'lobby', content: 'two' })
      await alice.request({ action: 'edit', room: 'lobby', id: m1.id, content: 'one!' })
      await alice.request({ action: 'delete', room: 'lobby', id: m2.id })
      const bob = await connect(app, token({ sub: 'bob' }))
      t.match(await bob.request({ action: 'join', room: 'lobby', since: { seq: 1, epoch: first.epoch } }), { recovered: true, seq: 4 })
      const replay = [await bob.next((f) => f.seq === 2), await bob.next((f) => f.seq === 3), await bob.next((f) => f.seq === 4)]
      t.match(replay, [
        { type: 'message', id: m2.id, content: '', deleted: true },
        { type: 'edited', id: m1.id, content: 'one!' },
        { type: 'deleted', id: m2.id }
      ])
      t.notOk(JSON.stringify(replay).includes('"two"'), 'the deleted text is not replayed')
      alice.close(); bob.close()
    })

    for (const window of ['the hot window', 'the store'].slice(0, variant.store ? 2 : 1)) {
      t.test(`a deleted message's earlier versions are in no replay, to anyone (served by ${window})`, async (t) => {
        // A hot window of at most 2 events: a resume from 0 then comes from the store.
        const app = await build(t, { ...variant.options(t), ...(window === 'the store' ? { history: { size: 1 } } : {}) })
        const alice = await connect(app, token({ sub: 'alice' }))
        const m = await alice.request({ action: 'message', room: 'lobby', content: 'original secret', meta: { note: 'meta secret' } })
        const first = await alice.next((f) => f.type === 'message' && f.id === m.id)
        await alice.request({ action: 'edit', room: 'lobby', id: m.id, content: 'edited secret', meta: { note: 'edited meta secret' } })
        await alice.request({ action: 'message', room: 'lobby', content: 'still here' })
        await alice.request({ action: 'delete', room: 'lobby', id: m.id })
        alice.close()

        // Someone who was never in the room, from the start; then from before the edit.
        for (const [sub, since] of [['mallory', 0], ['bob', 1]] as const) {
          const ws = await connect(app, token({ sub }))
          const joined = await ws.request({ action: 'join', room: 'lobby', since: { seq: since, epoch: first.epoch } })
          t.match(joined, { type: 'joined', recovered: true, seq: 4 }, `${sub}: resumed from ${since}`)
          const replay = []
          for (let seq = since + 1; seq <= 4; seq++) replay.push(await ws.next((f) => f.seq === seq && f.room === 'lobby'))
          t.notOk(JSON.stringify(replay).includes('secret'), `${sub}: nothing of any version of the deleted message`)
          const edited = replay.find((f) => f.type === 'edited')
          t.same({ ...edited, editedAt: 0 }, { type: 'edited', room: 'lobby', id: m.id, seq: 2, epoch: first.epoch, userId: 'alice', content: '', editedAt: 0 }, `${sub}: the edit keeps its place, emptied`)
          t.match(replay[replay.length - 1], { type: 'deleted', id: m.id, seq: 4 })
          if (since === 0) t.match(replay[0], { type: 'message', id: m.id, content: '', deleted: true })
          ws.close()
        }
        t.notOk(JSON.stringify(await app.chat.history('lobby')).includes('secret'), 'history: the tombstone')
      })
    }
  })
}

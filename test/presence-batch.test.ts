// Presence batching: the first change in a quiet room goes out at once, then at most one frame per
// room per window (presence.batch), the changes of a window in one presenceDiff, and a room quiet
// again after an empty window. A storm of joins costs each member a handful of
// frames; the typed client tells each change as its own userJoined/userLeft.
import t from 'tap'
import { createChatClient } from '../lib/client/index.js'
import { PresenceBatcher } from '../lib/core/presence-batch.js'
import { build, connect, token, type Client } from './helpers.js'

const joined = (userId: string) => ({ type: 'userJoined' as const, room: 'r', clientId: `c-${userId}`, userId, connections: 1 })
const left = (userId: string) => ({ type: 'userLeft' as const, room: 'r', clientId: `c-${userId}`, userId, connections: 0, reason: 'closed' as const })

t.test('the batcher: at once when quiet, then at most one frame per room per window, the changes in order', async (t) => {
  const sent: Array<{ room: string, frame: any, except?: string }> = []
  const timers: Array<{ fn: () => void, ms: number }> = []
  let now = 1000
  const batcher = new PresenceBatcher(300, (room, text, except) => sent.push({ room, frame: JSON.parse(text), except }), (fn, ms) => { timers.push({ fn, ms }); return {} }, () => now)
  const fire = (ms: number) => { now += ms; timers.shift()!.fn() }

  batcher.add('r', joined('a'), 'c-a')
  t.same(sent, [{ room: 'r', frame: joined('a'), except: 'c-a' }], 'the first change goes out at once, not to the one it is about')
  t.same(timers.map((x) => x.ms), [300], 'and opens a window')
  now += 10
  batcher.add('r', joined('b'), 'c-b')
  batcher.add('r', left('a'))
  batcher.add('other', joined('z'), 'c-z')
  t.equal(sent.length, 2, 'within the window nothing more goes to r (another room has its own)')
  fire(290)
  t.same(sent[2], { room: 'r', frame: { type: 'presenceDiff', room: 'r', changes: [{ type: 'userJoined', clientId: 'c-b', userId: 'b', connections: 1 }, { type: 'userLeft', clientId: 'c-a', userId: 'a', connections: 0, reason: 'closed' }] }, except: undefined }, 'at its end, one diff with both, in order')
  fire(0) // other's window: empty, it is quiet again
  t.same(timers.map((x) => x.ms), [300], 'the next window opens with the frame')
  now += 100
  batcher.add('r', joined('c'), 'c-c')
  t.equal(sent.length, 3, 'a change 100 ms after a frame waits')
  fire(200)
  t.same(sent[3], { room: 'r', frame: joined('c'), except: 'c-c' }, 'a window with one change sends it as it is')
  fire(300)
  t.equal(timers.length, 0, 'a window without changes: the room is quiet again')
  batcher.add('r', joined('f'), 'c-f')
  t.same(sent.at(-1), { room: 'r', frame: joined('f'), except: 'c-f' }, 'and its next change goes out at once')

  batcher.add('r', left('f'))
  batcher.close()
  t.same(sent.at(-1)?.frame, left('f'), 'closing sends what waited')
  const none = new PresenceBatcher(0, (room, text) => sent.push({ room, frame: JSON.parse(text) }), () => { throw new Error('no window without batching') })
  const before = sent.length
  none.add('r', joined('x')); none.add('r', joined('y'))
  t.equal(sent.length, before + 2, 'batch 0: every change at once')
})

async function storm (t: any, batch: number | false): Promise<{ frames: any[], users: Set<string> }> {
  const app = await build(t, { rateLimit: false, defaultRoom: false, presence: { limit: 100, batch } })
  const watcher = await connect(app, token({ sub: 'watcher' }), { defaultRoom: false })
  watcher.expandPresence = false
  await watcher.request({ action: 'join', room: 'r' })
  const joiners: Client[] = await Promise.all(Array.from({ length: 30 }, async (_, i) => await connect(app, token({ sub: `u${i}` }), { defaultRoom: false })))
  await Promise.all(joiners.map(async (c) => await c.request({ action: 'join', room: 'r' })))
  const users = new Set<string>()
  const frames: any[] = []
  while (users.size < 30) {
    const f = await watcher.next((x) => x.type === 'userJoined' || x.type === 'presenceDiff', 15_000)
    frames.push(f)
    for (const c of f.type === 'presenceDiff' ? f.changes : [f]) if (c.type === 'userJoined') users.add(c.userId)
  }
  for (const c of [watcher, ...joiners]) c.close()
  return { frames, users }
}

t.test('a storm of 30 joins: every joiner told, in a handful of frames', async (t) => {
  const { frames, users } = await storm(t, 3000)
  t.equal(users.size, 30, 'every joiner is in a frame')
  t.ok(frames.length <= 3, `${frames.length} presence frames for 30 joins (one per 3 s window)`)
  // (The watcher's own join opened the room's first window: the joins after it were batched.)
  t.ok(frames.some((f) => f.type === 'presenceDiff' && f.changes.length > 1), 'joins batched into a diff')
})

t.test('presence.batch: false: one frame per join, as before', async (t) => {
  const { frames } = await storm(t, false)
  t.equal(frames.length, 30)
  t.ok(frames.every((f) => f.type === 'userJoined'))
})

t.test('bad presence.batch is a coded registration error', async (t) => {
  await t.rejects(build(t, { presence: { batch: -1 } as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /presence\.batch/ })
  await t.rejects(build(t, { presence: { batch: 'soon' } as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /presence\.batch/ })
})

t.test('the typed client tells a diff\'s changes one by one, never its own join', async (t) => {
  const app = await build(t, { rateLimit: false, defaultRoom: false, server: {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/chat`
  const first = createChatClient({ url, token: token({ sub: 'first' }) })
  t.teardown(() => first.close())
  await first.connect()
  await first.join('r')
  const seen: string[] = []
  const diffs: unknown[] = []
  first.on('userJoined', (f) => { t.equal(f.room, 'r'); seen.push(f.userId) })
  first.on('presenceDiff', (f) => diffs.push(f))
  const others = Array.from({ length: 8 }, (_, i) => createChatClient({ url, token: token({ sub: `o${i}` }) }))
  t.teardown(() => { for (const c of others) c.close() })
  const ownJoins: string[] = []
  await Promise.all(others.map(async (c) => {
    c.on('userJoined', (f) => { if (f.userId === (c as any).__me) ownJoins.push(f.userId) })
    const w = await c.connect()
    ;(c as any).__me = w.userId
    await c.join('r')
  }))
  const deadline = Date.now() + 10_000
  while (seen.length < 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(seen.sort(), others.map((_, i) => `o${i}`).sort(), 'each join told once as userJoined')
  t.ok(diffs.length >= 1, 'some came batched')
  t.same(ownJoins, [], 'no client is told of its own join')
})

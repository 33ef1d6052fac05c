// The room feed alone: holes read back from history, copies dropped, order kept.
import t from 'tap'
import type { Resume } from '../lib/adapter/contract.js'
import { RoomFeeds } from '../lib/core/room-feed.js'

const noop = (): void => {}
const log: any = { warn: noop, info: noop, error: noop, debug: noop }

function setup (history: (seq: number, epoch: string) => Promise<Resume>) {
  const written: Array<number | string> = []
  const calls: number[] = []
  const gaps: number[] = []
  const feeds = new RoomFeeds({
    write: (_room, text, _except, seq) => { written.push(seq ?? text) },
    gap: (_room, before) => { gaps.push(before) },
    since: async (_room, seq, epoch) => { calls.push(seq); return await history(seq, epoch) },
    log
  })
  return { feeds, written, calls, gaps }
}
const msg = (seq: number) => ({ seq, text: `m${seq}` })
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i))
const settled = async () => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

t.test('in order and copies: delivered once each', async (t) => {
  const { feeds, written, calls } = setup(async () => ({ recovered: true, messages: [] }))
  feeds.started('r', 3, 'e')
  for (const seq of [4, 5, 5, 3, 6]) feeds.deliver('r', `m${seq}`, undefined, seq, 'e')
  feeds.deliver('r', 'presence', undefined, undefined, undefined)
  t.same(written, [4, 5, 6, 'presence'], 'the copies and the old one dropped; presence passes')
  t.same(calls, [], 'no history read without a hole')
})

t.test('a hole is read from history before what came after it', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { feeds, written, calls } = setup(async (seq) => { await gate; return { recovered: true, messages: range(seq + 1, 9) } })
  feeds.started('r', 1, 'e')
  feeds.deliver('r', 'm2', undefined, 2, 'e')
  feeds.deliver('r', 'm5', undefined, 5, 'e')
  feeds.deliver('r', 'm6', undefined, 6, 'e')
  feeds.deliver('r', 'm10', undefined, 10, 'e')
  t.same(written, [2], 'held while the hole is read')
  release()
  await settled()
  t.same(calls, [2])
  t.same(written, [2, 3, 4, 5, 6, 7, 8, 9, 10], 'every message once, in order')
})

t.test('resync reads what every room missed', async (t) => {
  const { feeds, written, calls } = setup(async (seq) => ({ recovered: true, messages: range(seq + 1, seq + 2) }))
  feeds.started('r', 7, 'e')
  feeds.resync()
  feeds.deliver('r', 'm9', undefined, 9, 'e')
  feeds.deliver('r', 'm10', undefined, 10, 'e')
  await settled()
  t.same(calls, [7])
  t.same(written, [8, 9, 10], 'the missed ones, then the held live ones without the copy')
})

t.test('history that no longer has the hole, or a new epoch: delivered as they come', async (t) => {
  const { feeds, written, gaps } = setup(async () => ({ recovered: false }))
  feeds.started('r', 1, 'e')
  feeds.deliver('r', 'm5', undefined, 5, 'e')
  await settled()
  t.same(written, [5])
  feeds.deliver('r', 'x1', undefined, 1, 'other')
  t.same(written, [5, 1], 'another epoch starts the count again')
  // Members' live runs restart after each: a later replay to them still sends 2-4 (were they
  // still in history) and everything of the new epoch before 1.
  t.same(gaps, [4, 0], 'the hole and the new epoch are told')
})

t.test('no gap is told when the hole is read back', async (t) => {
  const { feeds, written, gaps } = setup(async (seq) => ({ recovered: true, messages: range(seq + 1, 5) }))
  feeds.started('r', 1, 'e')
  feeds.deliver('r', 'm5', undefined, 5, 'e')
  await settled()
  t.same(written, [2, 3, 4, 5])
  t.same(gaps, [])
})

t.test('an unreachable history is retried, then the held frames go', async (t) => {
  let fail = 2
  const { feeds, written, calls } = setup(async (seq) => {
    if (fail-- > 0) throw new Error('down')
    return { recovered: true, messages: range(seq + 1, 4) }
  })
  feeds.started('r', 1, 'e')
  feeds.deliver('r', 'm5', undefined, 5, 'e')
  const deadline = Date.now() + 5000
  while (written.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(calls, [1, 1, 1], 'tried again')
  t.same(written, [2, 3, 4, 5])
})

t.test('a hole that cannot be read: the held frames go, and the gap is told', async (t) => {
  const { feeds, written, gaps } = setup(async () => { throw new Error('down') })
  feeds.started('r', 1, 'e')
  feeds.deliver('r', 'm5', undefined, 5, 'e')
  feeds.deliver('r', 'm6', undefined, 6, 'e')
  const deadline = Date.now() + 15_000
  while (written.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(written, [5, 6], 'what was held')
  t.same(gaps, [4], 'members\' live runs start after the hole (2-4 never reached them)')
})

t.test('a room that empties drops its count', async (t) => {
  const { feeds, written, calls } = setup(async () => ({ recovered: true, messages: [] }))
  feeds.started('r', 1, 'e')
  feeds.stopped('r')
  feeds.deliver('r', 'm9', undefined, 9, 'e')
  t.same(written, [9], 'a fresh start: no hole to read')
  t.same(calls, [])
})

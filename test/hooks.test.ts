// onMessage: the host sees every client message first, and accepts, changes or refuses it.
import { Type } from '@sinclair/typebox'
import t from 'tap'
import type { MessageContext } from '../lib/index.js'
import { build, connect, token } from './helpers.js'

t.test('accept, change and reject; the hook sees who, where and what', async (t) => {
  const seen: MessageContext[] = []
  const app = await build(t, {
    onMessage: (ctx) => {
      seen.push(ctx)
      if (ctx.content.includes('spam')) return { reject: 'no spam here' }
      if (ctx.content.startsWith('shout ')) return { content: ctx.content.slice(6).toUpperCase(), meta: { ...ctx.meta, shouted: true } }
      return undefined
    }
  })
  const a = await connect(app, token({ sub: 'alice', role: 'member' }))
  const b = await connect(app, token({ sub: 'bob' }))
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'hello', meta: { k: 1 } }), { type: 'ack', seq: 1 })
  t.match(seen[0], { user: { sub: 'alice', role: 'member' }, clientId: a.id, room: 'lobby', content: 'hello', meta: { k: 1 } })
  t.match(await b.next('message'), { content: 'hello', meta: { k: 1 } })
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'shout hi' }), { type: 'ack', seq: 2 })
  t.match(await b.next('message'), { seq: 2, content: 'HI', meta: { shouted: true } }, 'changed before anyone saw it')
  const refused = await a.request({ action: 'message', room: 'lobby', content: 'buy spam', ref: 'x1' })
  t.same(refused, { type: 'error', code: 'REJECTED', message: 'no spam here', ref: 'x1' })
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'after' }), { seq: 3 }, 'a refused message used no seq')
  t.same((await app.chat.history('lobby')).messages.map((m) => m.content), ['hello', 'HI', 'after'], 'nothing stored for it')
  await app.chat.broadcast('lobby', 'spam from the server')
  t.equal(seen.filter((c) => c.content.includes('from the server')).length, 0, 'server messages skip the hook')
  a.close(); b.close()
})

t.test('a hook that throws is REJECTED with a generic reason and logged; one that answers nonsense too', async (t) => {
  const logs: any[] = []
  const app = await build(t, {
    server: { logger: { level: 'error', stream: { write: (line: string) => logs.push(JSON.parse(line)) } } },
    onMessage: async (ctx) => {
      if (ctx.content === 'boom') throw new Error('the moderation service is down')
      if (ctx.content === 'odd') return { content: 42 } as any
      return undefined
    }
  })
  const a = await connect(app, token({ sub: 'alice' }))
  t.same(await a.request({ action: 'message', room: 'lobby', content: 'boom', ref: 1 }), { type: 'error', code: 'REJECTED', message: 'the message was refused', ref: 1 })
  t.same(await a.request({ action: 'message', room: 'lobby', content: 'odd', ref: 2 }), { type: 'error', code: 'REJECTED', message: 'the message was refused', ref: 2 })
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'fine' }), { type: 'ack', seq: 1 }, 'the socket is fine')
  t.match(logs.find((l) => l.err !== undefined), { msg: /onMessage threw/, err: { message: 'the moderation service is down' } })
  t.ok(logs.some((l) => /answered something it may not/.test(l.msg)))
  a.close()
})

t.test('a hook slower than hookTimeout is UNAVAILABLE, and a resend with the same ref later goes through', async (t) => {
  let slow = true
  const release: Array<() => void> = []
  const app = await build(t, {
    hookTimeout: 50,
    onMessage: async () => { if (slow) await new Promise<void>((resolve) => release.push(resolve)) }
  })
  t.after(() => { for (const r of release) r() })
  const a = await connect(app, token({ sub: 'alice' }))
  const late = await a.request({ action: 'message', room: 'lobby', content: 'hi', ref: 'k' })
  t.same(late, { type: 'error', code: 'UNAVAILABLE', message: 'the message could not be checked within 50 ms: resend later with the same ref', ref: 'k' })
  for (const r of release) r()
  slow = false
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'hi', ref: 'k' }), { type: 'ack', seq: 1 })
  t.same((await app.chat.history('lobby')).messages.map((m) => m.content), ['hi'], 'sent once')
  a.close()
})

t.test('a sender\'s messages keep their order whatever each hook takes', async (t) => {
  // The first message's hook is the slowest: later ones wait for it, and are not held up longer.
  const app = await build(t, {
    rateLimit: false,
    onMessage: async (ctx) => {
      const n = Number(ctx.content)
      await new Promise((resolve) => setTimeout(resolve, (20 - n) * 3))
      return n % 5 === 0 ? { reject: `no ${n}` } : { content: `#${n}` }
    }
  })
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  for (let i = 1; i <= 20; i++) a.send({ action: 'message', room: 'lobby', content: String(i), ref: i })
  const replies = []
  for (let i = 1; i <= 20; i++) replies.push(await a.next((f) => f.ref !== undefined))
  t.same(replies.map((r) => r.ref), Array.from({ length: 20 }, (_, i) => i + 1), 'answered in the order sent')
  t.same(replies.filter((r) => r.type === 'error').map((r) => r.message), ['no 5', 'no 10', 'no 15', 'no 20'])
  const got = []
  for (let i = 0; i < 16; i++) got.push(await b.next('message'))
  t.same(got.map((m) => m.content), Array.from({ length: 20 }, (_, i) => i + 1).filter((n) => n % 5 !== 0).map((n) => `#${n}`), 'delivered in the order sent')
  t.same(got.map((m) => m.seq), Array.from({ length: 16 }, (_, i) => i + 1))
  a.close(); b.close()
})

t.test('bad hook options fail registration, naming the option', async (t) => {
  await t.rejects(build(t, { onMessage: 'yes' as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /"onMessage"/ })
  await t.rejects(build(t, { hookTimeout: 0 }), { message: /"hookTimeout"/ })
  await t.rejects(build(t, { metaSchema: Type.String() as any }), { message: /"metaSchema"/ })
})

// Structured messages: `meta`, a JSON object beside the text, bounded, checked against the host's
// schema, delivered, kept and replayed.
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { build, connect, token } from './helpers.js'

t.test('meta is delivered, kept in history and replayed on resume', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const meta = { replyTo: 'm-1', mentions: ['bob'], attachment: { url: 'https://files.example/x.png', type: 'image/png', size: 1234 } }
  const ack = await a.request({ action: 'message', room: 'lobby', content: 'look', meta })
  const m = await a.next('message')
  t.same(m.meta, meta)
  t.equal(m.id, ack.id)
  t.same((await app.chat.history('lobby')).messages[0].meta, meta)
  const b = await connect(app, token({ sub: 'bob' }), { defaultRoom: false })
  t.match(await b.request({ action: 'join', room: 'lobby', since: { seq: 0, epoch: m.epoch } }), { recovered: true })
  t.same((await b.next('message')).meta, meta)
  t.notOk('meta' in (await a.request({ action: 'message', room: 'lobby', content: 'plain' }) && await a.next('message')), 'no meta, no key')
  a.close(); b.close()
})

t.test('meta must be a JSON object within maxMetaBytes, without U+0000', async (t) => {
  const app = await build(t, { maxMetaBytes: 64 })
  const a = await connect(app, token({ sub: 'alice' }))
  const bad = async (meta: unknown) => await a.request({ action: 'message', room: 'lobby', content: 'x', meta })
  t.match(await bad([1, 2]), { code: 'BAD_REQUEST', message: /meta/ }, 'an array')
  t.match(await bad('text'), { code: 'BAD_REQUEST' }, 'a scalar')
  t.match(await bad(null), { code: 'BAD_REQUEST' })
  t.match(await bad({ big: 'x'.repeat(60) }), { code: 'BAD_REQUEST', message: 'meta: at most 64 bytes of JSON' })
  t.match(await bad({ é: 'é'.repeat(30) }), { code: 'BAD_REQUEST', message: 'meta: at most 64 bytes of JSON' }, 'bytes, not characters')
  t.match(await bad({ nul: 'a\u0000b' }), { code: 'BAD_REQUEST', message: 'meta may not contain U+0000' })
  t.match(await bad({ ok: 'a\\u0000b' }), { type: 'ack' }, 'a backslash and "u0000" as text are fine')
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'a\u0000b' }), { code: 'BAD_REQUEST', message: 'content and ref may not contain U+0000' })
  t.match(await bad({ fits: 'x'.repeat(40) }), { type: 'ack' })
  a.close()
})

t.test('metaSchema: the host\'s TypeBox schema decides what meta may hold', async (t) => {
  const app = await build(t, {
    metaSchema: Type.Object({
      replyTo: Type.Optional(Type.String({ format: 'uuid' })),
      attachment: Type.Optional(Type.Object({ url: Type.String({ pattern: '^https://' }), size: Type.Integer({ maximum: 10_000_000 }) }, { additionalProperties: false }))
    }, { additionalProperties: false })
  })
  const a = await connect(app, token({ sub: 'alice' }))
  const send = async (meta: unknown) => await a.request({ action: 'message', room: 'lobby', content: 'x', meta })
  t.match(await send({ attachment: { url: 'https://f.example/a', size: 10 } }), { type: 'ack' })
  t.match(await send({ attachment: { url: 'http://f.example/a', size: 10 } }), { code: 'BAD_REQUEST', message: /^meta\/attachment\/url/ })
  t.match(await send({ other: 1 }), { code: 'BAD_REQUEST', message: /^meta/ })
  t.match(await a.request({ action: 'message', room: 'lobby', content: 'no meta at all' }), { type: 'ack' }, 'meta stays optional')
  a.close()
})

t.test('REST and app.chat.broadcast send meta too', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const res = await app.inject({ method: 'POST', url: '/rooms/lobby/messages', headers: { authorization: `Bearer ${token({ sub: 'root', role: 'admin' })}` }, payload: { content: 'pinned', meta: { pinned: true } } })
  t.equal(res.statusCode, 202)
  t.match(await a.next('message'), { from: 'server', content: 'pinned', meta: { pinned: true } })
  await t.rejects(app.chat.broadcast('lobby', 'x', { meta: [1] as any }), { code: 'FST_CHAT_INVALID_META', statusCode: 400 })
  a.close()
})

import t from 'tap'
import { register, Registry } from 'prom-client'
import { build, connect, token } from './helpers.js'

t.test('metrics through prom-client: gauges, totals, errors and closes by code', async (t) => {
  const registry = new Registry()
  const app = await build(t, { metrics: { registry } })
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  await a.request({ action: 'message', room: 'lobby', content: 'hi' })
  a.send('not json')
  await a.next('error')
  await b.request({ action: 'message', room: 'nowhere', content: 'x' })
  b.ws.close()
  await b.closed
  const text = await registry.metrics()
  t.match(text, /fastify_chat_connections \d/)
  t.match(text, /fastify_chat_rooms 1/)
  t.match(text, /fastify_chat_members \d/)
  t.match(text, /fastify_chat_messages_in_total [1-9]/)
  t.match(text, /fastify_chat_messages_out_total [1-9]/)
  t.match(text, /fastify_chat_errors_total\{code="BAD_JSON"\} 1/)
  t.match(text, /fastify_chat_errors_total\{code="NOT_A_MEMBER"\} 1/)
  t.match(text, /fastify_chat_closes_total\{code="1005"\} 1/, 'a client close without a code')
  const again = await registry.metrics()
  t.match(again, /fastify_chat_messages_in_total [1-9]/, 'totals do not double on a second scrape')
  t.equal(/messages_in_total (\d+)/.exec(again)?.[1], /messages_in_total (\d+)/.exec(text)?.[1])
  a.close()
})

t.test('no metrics unless asked', async (t) => {
  await build(t)
  t.notMatch(await register.metrics(), /fastify_chat_/, "nothing in prom-client's default registry")
})

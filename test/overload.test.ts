// Load shedding of upgrades (the `admission` option): upgrades queued in authentication or an event
// loop that lags make new upgrades wait, with 503 FST_CHAT_OVERLOADED and Retry-After, before any
// token work; open connections are untouched; the typed client waits at least Retry-After.
import t from 'tap'
import { createChatClient } from '../lib/client/index.js'
import { memoryAdapter, type AdapterFactory } from '../lib/index.js'
import { build, connect, token } from './helpers.js'

/** The memory adapter, with admissions held until `release()`. */
function gatedAdapter (): { factory: AdapterFactory, held: () => number, release: () => void } {
  let waiting: Array<() => void> = []
  let gate = true
  const factory: AdapterFactory = async (node) => {
    const adapter = await memoryAdapter()(node)
    const admit = adapter.admit.bind(adapter)
    adapter.admit = async (...args) => {
      if (gate) await new Promise<void>((resolve) => waiting.push(resolve))
      return await admit(...args)
    }
    return adapter
  }
  return { factory, held: () => waiting.length, release: () => { gate = false; for (const w of waiting) w(); waiting = [] } }
}

const upgrade = (sub: string) => ({ url: '/chat', headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${token({ sub })}` } })

t.test('upgrades queued in authentication: the next one waits, 503 with Retry-After, before any token work', async (t) => {
  const gated = gatedAdapter()
  const app = await build(t, { adapter: gated.factory, admission: { maxPendingUpgrades: 2, retryAfter: 3 } })
  const first = app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'a' })}` } })
  const second = app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'b' })}` } })
  const deadline = Date.now() + 5000
  while (gated.held() < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  t.equal(gated.held(), 2, 'two upgrades wait in admission')
  const refused = await app.inject(upgrade('c'))
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '3')
  t.match(refused.json(), { statusCode: 503, code: 'FST_CHAT_OVERLOADED', message: /retry after 3 s/ })
  const bad = await app.inject({ ...upgrade('d'), headers: { ...upgrade('d').headers, authorization: 'Bearer not-a-token' } })
  t.equal(bad.statusCode, 503, 'a bad token is not even looked at')
  t.equal(gated.held(), 2, 'and nothing more reached admission')
  const rest = await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${token({ sub: 'e' })}` } })
  t.equal(rest.statusCode, 200, 'REST is not shed')
  gated.release()
  const sockets = await Promise.all([first, second])
  t.equal(sockets.length, 2, 'the waiting ones get through')
  const later = await connect(app, token({ sub: 'c' }))
  t.match(later.welcome, { userId: 'c' }, 'once the queue drains, new upgrades are let in')
  for (const s of sockets) s.terminate()
  later.close()
})

t.test('an event loop that lags: new upgrades wait until it recovers; open connections are untouched', async (t) => {
  const app = await build(t, { admission: { maxEventLoopDelay: 100 } })
  const open = await connect(app, token({ sub: 'open' }))
  // The process is busy for 400 ms at a time, with the timers running in between (a storm's
  // handshakes, say): an upgrade that comes meanwhile waits (probed with a bad token: 503 when
  // shed, 401 when let in).
  const probe = { ...upgrade('late'), headers: { ...upgrade('late').headers, authorization: 'Bearer bad' } }
  let refused = await app.inject(probe)
  for (let i = 0; i < 10 && refused.statusCode !== 503; i++) {
    busy(400)
    refused = await app.inject(probe)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '1', 'the default Retry-After')
  t.match(await open.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' }, 'an open connection works on')
  // Recovered: within a few samples the lag is gone and upgrades are let in again.
  const deadline = Date.now() + 5000
  let status = 503
  while (status === 503 && Date.now() < deadline) {
    status = (await app.inject(probe)).statusCode
    if (status === 503) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.equal(status, 401, 'let in again (and refused for its bad token, as any upgrade)')
  open.close()
})

t.test('a lone pause (a GC, a synchronous call) is not overload: nothing is shed', async (t) => {
  const app = await build(t, { admission: { maxEventLoopDelay: 100 } })
  const probe = { ...upgrade('late'), headers: { ...upgrade('late').headers, authorization: 'Bearer bad' } }
  busy(400)
  t.equal((await app.inject(probe)).statusCode, 401, 'right after the pause')
  await new Promise((resolve) => setTimeout(resolve, 1))
  t.equal((await app.inject(probe)).statusCode, 401, 'once the sampler has seen it')
})

t.test('a late loop while upgrades pour in sheds at once (a storm\'s first long turn)', async (t) => {
  const app = await build(t, { admission: { maxEventLoopDelay: 100 } })
  const probe = { ...upgrade('late'), headers: { ...upgrade('late').headers, authorization: 'Bearer bad' } }
  busy(400)
  const codes = (await Promise.all(Array.from({ length: 40 }, async () => await app.inject(probe)))).map((r) => r.statusCode)
  t.equal(codes.filter((c) => c === 401).length, 16, 'the first 16 are let in (and refused for their bad token)')
  t.same(codes.slice(16), Array(24).fill(503), 'the rest wait')
})

function busy (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* busy */ }
}

t.test('admission: false never sheds; bad admission options are coded errors', async (t) => {
  const gated = gatedAdapter()
  const app = await build(t, { adapter: gated.factory, admission: false })
  const waiting = Array.from({ length: 3 }, async (_, i) => await app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: `u${i}` })}` } }))
  const deadline = Date.now() + 5000
  while (gated.held() < 3 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  t.equal(gated.held(), 3)
  gated.release()
  for (const ws of await Promise.all(waiting)) ws.terminate()
  await t.rejects(build(t, { admission: { maxEventLoopDelay: 1 } }), { code: 'FST_CHAT_INVALID_OPTION', message: /admission\.maxEventLoopDelay/ })
  await t.rejects(build(t, { admission: { queue: 1 } as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /admission\.queue/ })
  await t.rejects(build(t, { admission: true as any }), { code: 'FST_CHAT_INVALID_OPTION', message: /admission/ })
})

t.test('the typed client waits at least the Retry-After of a 503, then connects', async (t) => {
  const gated = gatedAdapter()
  const app = await build(t, { adapter: gated.factory, admission: { maxPendingUpgrades: 1, retryAfter: 1 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/chat`
  const blocker = app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'first' })}` } })
  const deadline = Date.now() + 5000
  while (gated.held() < 1 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  const client = createChatClient({ url, token: () => token({ sub: 'patient' }), reconnect: { minDelay: 10, maxDelay: 50 } })
  t.teardown(() => client.close())
  const refusal = new Promise<{ status?: number }>((resolve) => client.on('close', (e) => resolve(e)))
  const delay = new Promise<number>((resolve) => client.on('reconnecting', (e) => resolve(e.delay)))
  const connected = client.connect().catch(() => undefined)
  t.match(await refusal, { status: 503, reconnecting: true }, 'a 503 is retried')
  const d = await delay
  t.ok(d >= 1000 && d <= 2000, `its retry waits Retry-After plus jitter up to as much again (${d} ms), not the 10 ms backoff`)
  await connected
  gated.release()
  ;(await blocker).terminate()
  await new Promise<void>((resolve) => { if (client.status === 'open') resolve(); else client.on('open', () => resolve()) })
  t.equal(client.status, 'open')
})

// The example as a newcomer runs it: a real process, its own routes, and no development tokens
// once a real JWT_SECRET is set.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { freePort } from './redis-helpers.js'

async function example (t: Test, env: Record<string, string>): Promise<{ base: string, out: () => string }> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', 'server.ts')], {
    env: { ...process.env, REDIS_URL: '', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await once(child, 'exit') } })
  const deadline = Date.now() + 30_000
  while (!out.includes('Demo page:')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the example did not start: ${out}`)
    await new Promise((resolve) => child.stdout!.once('data', resolve))
  }
  return { base: `http://127.0.0.1:${port}`, out: () => out }
}

t.test('with a real JWT_SECRET the example offers no development tokens', async (t) => {
  const { base, out } = await example(t, { JWT_SECRET: 'a-real-secret-from-the-environment-0000' })
  t.match(out(), /Demo page: off/)
  t.notMatch(out(), /JWT_SECRET is not set/)
  t.equal((await fetch(`${base}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })).status, 404)
  t.equal((await fetch(`${base}/health`)).status, 200, 'its own route')
  t.equal((await fetch(`${base}/docs/json`)).status, 200, 'its API docs')
  t.match(await (await fetch(`${base}/metrics`)).text(), /fastify_chat_connections 0/, 'the chat on /metrics')
})

t.test('without it, the example warns and serves the demo with development tokens', async (t) => {
  const { base, out } = await example(t, { JWT_SECRET: '' })
  t.match(out(), /JWT_SECRET is not set/)
  const res = await fetch(`${base}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"newcomer"}' })
  t.equal(res.status, 200)
  const { token } = await res.json() as { token: string }
  const rooms = await fetch(`${base}/rooms`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(rooms.status, 200, 'the development token works on the chat')
  t.match(await (await fetch(`${base}/`)).text(), /data-testid="connect"/, 'the demo page')
})

// The example as a newcomer runs it: a real process, its own routes, and no development tokens
// once a real JWT_SECRET is set.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect as tcp } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { Client } from './helpers.js'
import { clusterReady, dropClusterPrefix, freePort, freePortPair, REDIS_CLUSTER_NODES, testPrefix } from './redis-helpers.js'
import { DATABASE_URL, hostPool, pgReady, testSchema } from './pg-helpers.js'

async function example (t: Test, env: Record<string, string>): Promise<{ base: string, out: () => string }> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', 'server.ts')], {
    env: { ...process.env, REDIS_URL: '', DATABASE_URL: '', ...env, PORT: String(port) },
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

t.test('with DATABASE_URL the example keeps messages in PostgreSQL, across a restart', async (t) => {
  if (!await pgReady(t)) return
  const schema = testSchema(t)
  const secret = 'a-real-secret-from-the-environment-0000'
  const jwt = createSigner({ key: secret, expiresIn: 60_000 })({ sub: 'ann' })
  const env = { JWT_SECRET: secret, DATABASE_URL, CHAT_SCHEMA: schema, LOG_FORMAT: 'json' }
  const first = await example(t, env)
  t.match(first.out(), /chat messages kept in PostgreSQL/)
  const ann = new Client(new WebSocket(`${first.base.replace('http', 'ws')}/chat?token=${jwt}`))
  await ann.next('joined')
  t.match(await ann.request({ action: 'message', room: 'lobby', content: 'kept' }), { type: 'ack', seq: 1 })
  ann.close()
  const { rows } = await hostPool(t).query(`SELECT content FROM "${schema}".messages`)
  t.same(rows, [{ content: 'kept' }], 'the row is in the host\'s database')
  const second = await example(t, env)
  const res = await fetch(`${second.base}/rooms/lobby/messages`, { headers: { authorization: `Bearer ${jwt}` } })
  t.match(await res.json(), { messages: [{ seq: 1, content: 'kept' }] }, 'another process serves it')
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
  const long = await fetch(`${base}/rooms/${'r'.repeat(200)}/messages`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(long.status, 414, 'a parameter over maxParamLength is the router\'s 414, as the README says')
  t.match(await long.json(), { code: 'FST_ERR_MAX_PARAM_LENGTH' })
  t.equal((await fetch(`${base}/nothing-here`)).status, 404)
})

t.test('the example, as a newcomer meets it: docs that authorize, an admin token, short log lines, slow clients cut', async (t) => {
  const { base, out } = await example(t, { JWT_SECRET: '', LOG_FORMAT: 'json' })
  const doc = await (await fetch(`${base}/docs/json`)).json() as any
  t.match(doc.components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer' } }, 'a bearer scheme for "Authorize"')
  t.same(doc.paths['/rooms/{room}/messages'].post.security, [{ bearerAuth: [] }], 'which the chat routes use')
  t.ok(doc.paths['/dev/token']?.post, 'the development token route is documented')

  const dev = async (body: unknown) => await fetch(`${base}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const spaced = await dev({ name: 'Ann Lee' })
  t.equal(spaced.status, 200, 'a name with a space is fine')
  const admin = (await (await dev({ name: 'Boss', role: 'admin' })).json() as { token: string }).token
  const user = (await (await spaced.json()) as { token: string }).token
  const post = (jwt: string) => fetch(`${base}/rooms/lobby/messages`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: '{"content":"hi"}' })
  t.equal((await post(user)).status, 403, 'a user may not post as the server')
  t.equal((await post(admin)).status, 202, 'a development admin may')
  const bad = await dev({ name: '<script>' })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { message: /name/ }, 'a bad name says which field')

  t.equal((await fetch(`${base}/rooms`)).status, 401)
  const deadline = Date.now() + 5000
  while (!out().includes('FST_CHAT_NO_TOKEN') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const line = out().split('\n').find((l) => l.includes('FST_CHAT_NO_TOKEN'))!
  t.ok(line, 'the 401 is logged')
  t.notMatch(line, /"stack"/, 'on one line, without a stack trace')

  // A slow-loris client: headers trickled one byte a second.
  const started = Date.now()
  const socket = tcp(Number(new URL(base).port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n')
  const drip = setInterval(() => { if (!socket.destroyed) socket.write('X') }, 1000)
  // Not events.once: it would reject on the EPIPE of a write racing the server's cut.
  await new Promise((resolve) => socket.once('close', resolve))
  clearInterval(drip)
  const held = Date.now() - started
  t.ok(held < 10_000, `cut after ${held} ms (under 10 s)`)
})

t.test('npm start: a SIGTERM to the process npm started stops the server', async (t) => {
  const port = await freePort()
  const npm = spawn('npm', ['start'], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, REDIS_URL: '', JWT_SECRET: 'a-real-secret-from-the-environment-0000', LOG_FORMAT: 'json', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (npm.exitCode === null) npm.kill('SIGKILL') })
  let out = ''
  npm.stdout!.on('data', (d) => { out += d })
  npm.stderr!.on('data', (d) => { out += d })
  const deadline = Date.now() + 30_000
  while (!out.includes('Demo page:')) {
    if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not start the example: ${out}`)
    await new Promise((resolve) => npm.stdout!.once('data', resolve))
  }
  t.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200)
  npm.kill('SIGTERM')
  await once(npm, 'exit')
  const refused = await fetch(`http://127.0.0.1:${port}/health`).then(() => false, () => true)
  t.ok(refused, 'nothing listens on the port once npm has exited')
  t.match(out, /shutting down/, 'the server closed itself')
})

t.test('npm run start:cluster on a Redis Cluster: two copies, one chat', async (t) => {
  if (!await clusterReady(t)) return
  const port = await freePortPair()
  const nodes = REDIS_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(',')
  const prefix = testPrefix()
  t.teardown(() => dropClusterPrefix(prefix))
  const npm = spawn('npm', ['run', 'start:cluster'], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, REDIS_CLUSTER_NODES: nodes, REDIS_URL: '', CHAT_PREFIX: prefix, JWT_SECRET: 'a-real-secret-from-the-environment-0000', LOG_FORMAT: 'json', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (npm.exitCode === null) npm.kill('SIGKILL') })
  let out = ''
  npm.stdout!.on('data', (d) => { out += d })
  npm.stderr!.on('data', (d) => { out += d })
  const deadline = Date.now() + 40_000
  while ((out.match(/Demo page:/g) ?? []).length < 2) {
    if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`start:cluster did not start both copies: ${out}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.match(out, /redisCluster/, 'the copies say they are on the cluster')
  const jwt = (sub: string) => createSigner({ key: 'a-real-secret-from-the-environment-0000', expiresIn: 60_000 })({ sub })
  const open = async (p: number, sub: string): Promise<Client> => {
    const c = new Client(new WebSocket(`ws://127.0.0.1:${p}/chat`, ['chat.v1', `bearer.${jwt(sub)}`]))
    c.welcome = await c.next('welcome')
    await c.next('joined')
    return c
  }
  const alice = await open(port, 'alice')
  const bob = await open(port + 1, 'bob')
  await alice.next('userJoined')
  alice.send({ action: 'message', room: 'lobby', content: 'across the copies', ref: 'x' })
  t.match(await bob.next('message'), { content: 'across the copies', userId: 'alice' })
  alice.close(); bob.close()
  npm.kill('SIGTERM')
  await once(npm, 'exit')
})

// The README's CommonJS host snippet, run as a newcomer would paste it: in a CommonJS file,
// against the built package, with its login, its guarded route and the chat all working.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import * as errors from '../lib/errors.js'
import { Client } from './helpers.js'
import { freePort } from './redis-helpers.js'

const root = join(__dirname, '..')

t.test("the README's CommonJS snippet runs as written", async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const usage = readme.slice(readme.indexOf('## Quick start'))
  const code = /```js\n([\s\S]*?)```/.exec(usage)![1]
  t.match(code, /require\('fastify-chat'\)/, 'the snippet is the CommonJS one')
  t.notMatch(code, /^await /m, 'no top-level await')
  // Inside the package, so that require('fastify-chat') resolves to it (package self-reference).
  const dir = join(root, 'test-artifacts')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'readme-server.cjs')
  writeFileSync(file, code)
  const port = await freePort()
  const child = spawn(process.execPath, [file], { env: { ...process.env, PORT: String(port), JWT_SECRET: 'readme-secret-readme-secret-readme-0000' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  while (!out.includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the snippet did not start: ${out}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const login = async (name: string): Promise<string> => {
    const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
    return (await res.json() as { token: string }).token
  }
  const bob = await login('Bob')
  const ada = await login('Ada')
  const client = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat`, ['chat.v1', `bearer.${bob}`]))
  t.match(await client.next('welcome'), { userId: 'bob' }, 'a token it signed opens the chat')
  await client.next('joined')
  const announce = (jwt?: string) => fetch(`${base}/announcements`, { method: 'POST', headers: jwt === undefined ? {} : { authorization: `Bearer ${jwt}` } })
  t.equal((await announce()).status, 401, 'the announcement route needs a token')
  t.equal((await announce(bob)).status, 403, 'and an admin')
  t.equal((await announce(ada)).status, 200)
  t.match(await client.next('message'), { from: 'server', content: 'Deploy in 5 minutes' }, 'the chat hears it')
  client.close()
})

t.test('every error code of errors.ts is in the README', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const codes = Object.values(errors)
    .filter((E) => typeof E === 'function')
    .map((E) => new (E as new (...a: unknown[]) => { code: string })().code)
  t.ok(codes.length > 20, `${codes.length} codes`)
  for (const code of codes) t.ok(readme.includes(`\`${code}\``), code)
})

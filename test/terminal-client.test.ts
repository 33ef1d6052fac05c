// The example's terminal client (examples/client.ts), driven through its stdin as a person would.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { build, Client, token } from './helpers.js'
import { freePort } from './redis-helpers.js'

interface Terminal { child: ChildProcess, out: () => string, type: (line: string) => void, waitFor: (re: RegExp, ms?: number) => Promise<string>, exited: Promise<number | null> }

function terminal (t: Test, url: string, jwt: string): Terminal {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', 'client.ts'), url, jwt], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  const wake = new Set<() => void>()
  const add = (d: Buffer): void => { out += d.toString(); for (const w of wake) w() }
  child.stdout!.on('data', add)
  child.stderr!.on('data', add)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { for (const w of wake) w(); resolve(code) }))
  return {
    child,
    out: () => out,
    type: (line) => { child.stdin!.write(line + '\n') },
    // Waits for new output to match, with a deadline.
    waitFor: async (re, ms = 15_000) => {
      const deadline = Date.now() + ms
      for (;;) {
        const m = re.exec(out)
        if (m !== null) return m[0]
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in the client's output within ${ms} ms:\n${out}`)
        await new Promise<void>((resolve) => { const w = (): void => { wake.delete(w); clearTimeout(timer); resolve() }; const timer = setTimeout(w, 200); wake.add(w) })
      }
    },
    exited
  }
}

async function server (t: Test) {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const watcher = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token({ sub: 'watcher' })}`))
  watcher.welcome = await watcher.next('welcome')
  await watcher.next('joined')
  t.teardown(() => watcher.close())
  return { app, url: `ws://127.0.0.1:${port}/chat`, watcher }
}

t.test('typing before the socket is open, strict commands, leaving the current room, display names', async (t) => {
  const { url, watcher } = await server(t)
  const term = terminal(t, url, token({ sub: 'alice', name: 'Alice' }))
  term.type('said before the socket was open')
  t.match(await watcher.next((f) => f.type === 'message', 15_000), { userId: 'alice', name: 'Alice', content: 'said before the socket was open' }, 'queued, then sent')
  await term.waitFor(/in lobby \(2 members\)/)
  term.type('/join bad room')
  await term.waitFor(/"bad room" is not a room name/)
  term.type('/join')
  await term.waitFor(/usage: \/join ROOM/)
  term.type('/frobnicate')
  await term.waitFor(/unknown command \/frobnicate/)
  term.type('/help')
  await term.waitFor(/\/leave \[ROOM\]/)
  await watcher.request({ action: 'join', room: 'team' })
  term.type('/join team')
  await term.waitFor(/in team \(2 members\)/)
  await term.waitFor(/talking in team/)
  term.type('in the team room')
  t.match(await watcher.next((f) => f.type === 'message' && f.room === 'team'), { content: 'in the team room' })
  term.type('/leave')
  await term.waitFor(/left team/)
  await term.waitFor(/talking in lobby/)
  term.type('back in the lobby')
  t.match(await watcher.next((f) => f.type === 'message'), { room: 'lobby', content: 'back in the lobby' }, 'the next line goes to the lobby')
  term.type('//slash at the start')
  t.match(await watcher.next((f) => f.type === 'message'), { content: '/slash at the start' })
  await watcher.request({ action: 'message', room: 'lobby', content: 'hi alice' })
  await term.waitFor(/\[lobby\] watcher: hi alice/)
  t.notMatch(term.out(), /NOT_A_MEMBER|Error:|at .*\.ts:\d+/, 'no error, no stack trace')
  term.child.stdin!.end()
  t.equal(await term.exited, 0, 'the end of input quits cleanly')
  t.equal(watcher.queue.filter((f) => f.type === 'message' && f.content === '/join').length, 0, 'no command was ever sent as chat')
})

t.test('a server that is down: the client says so and keeps trying; the end of input quits cleanly', async (t) => {
  const port = await freePort()
  const term = terminal(t, `ws://127.0.0.1:${port}/chat`, token())
  await term.waitFor(/trying again in/)
  term.child.stdin!.end()
  t.equal(await term.exited, 0)
  t.notMatch(term.out(), /Error:|at .*\.ts:\d+|readyState/, 'no stack trace')
})

t.test('a refused token: one clear line and exit code 1', async (t) => {
  const { url } = await server(t)
  const term = terminal(t, url, 'not-a-token')
  t.equal(await term.exited, 1)
  t.match(term.out(), /could not connect: HTTP 401/)
  t.notMatch(term.out(), /at .*\.ts:\d+/, 'no stack trace')
})

// The demo page in a real browser: Debian's chromium driven by playwright-core (no browser
// download). Two pages chat and see each other; both survive a server restart by reconnecting.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { freePort } from './redis-helpers.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(__dirname, '..', 'test-artifacts')

async function startExample (port: number): Promise<ChildProcess> {
  const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), LOG_LEVEL: 'warn' }
  delete env.JWT_SECRET // the demo's development tokens
  delete env.REDIS_URL
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', 'server.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not start: ${out}`)), 30_000)
    child.stdout!.on('data', (d) => { out += d; if (out.includes('Demo page: http')) { clearTimeout(timer); resolve() } })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the example exited with ${code}: ${out}`)) })
  })
  return child
}

const byTestId = (id: string) => `[data-testid="${id}"]`
async function textIs (page: Page, id: string, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(([sel, want]) => (globalThis as any).document.querySelector(sel)?.textContent === want, [byTestId(id), text] as const, { timeout })
}
async function listHas (page: Page, id: string, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(([sel, want]) => [...(globalThis as any).document.querySelectorAll(`${sel} li`)].some((li: any) => li.textContent === want), [byTestId(id), text] as const, { timeout })
}

t.test('the demo page in Chromium: two people chat, see each other, and survive a restart', async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI !== undefined) t.fail(`Chromium is required under CI and is missing at ${CHROMIUM}`)
    else t.comment(`Browser test not run: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH).`)
    return
  }
  const port = await freePort()
  let server = await startExample(port)
  t.teardown(() => { server.kill('SIGKILL') })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const open = async (name: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.fill(byTestId('name'), name)
    await page.click(byTestId('connect'))
    await textIs(page, 'status', 'connected')
    await page.fill(byTestId('room'), 'demo')
    await page.click(byTestId('join'))
    await textIs(page, 'current-room', 'demo')
    return page
  }
  const alice = await open('alice')
  const bob = await open('bob')
  await listHas(alice, 'members', 'bob')
  await listHas(bob, 'members', 'alice')
  t.pass('each sees the other in the room')
  await alice.fill(byTestId('message'), 'hello from alice')
  await alice.click(byTestId('send'))
  await listHas(bob, 'messages', 'alice: hello from alice')
  await listHas(alice, 'messages', 'alice: hello from alice')
  t.pass('a message crosses')

  server.kill('SIGTERM')
  await once(server, 'exit')
  await textIs(alice, 'status', 'reconnecting')
  server = await startExample(port)
  await textIs(alice, 'status', 'connected', 30_000)
  await textIs(bob, 'status', 'connected', 30_000)
  t.pass('both reconnected after the restart')
  await bob.fill(byTestId('message'), 'back again')
  await bob.click(byTestId('send'))
  await listHas(alice, 'messages', 'bob: back again')
  await listHas(alice, 'members', 'bob')
  t.pass('and chat again, in the same room, with presence')

  mkdirSync(ARTIFACTS, { recursive: true })
  await alice.screenshot({ path: join(ARTIFACTS, 'demo.png') })
  t.ok(existsSync(join(ARTIFACTS, 'demo.png')), 'screenshot saved in test-artifacts/')
})

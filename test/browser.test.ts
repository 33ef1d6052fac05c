// The demo page in a real browser: Debian's chromium driven by playwright-core (no browser
// download). Two pages chat and see each other; both survive a server restart by reconnecting,
// with what was typed meanwhile shown pending and sent once back, and no false "missed" note.
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
/** The members list shows this user (yourself as "name (you)"). */
async function memberShown (page: Page, user: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(([sel, want]) => [...(globalThis as any).document.querySelectorAll(`${sel} li`)].some((li: any) => li.dataset.user === want), [byTestId('members'), user] as const, { timeout })
}
/** The current tab shows a message by this author with this text. */
async function messageShown (page: Page, author: string, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(([sel, who, want]) => [...(globalThis as any).document.querySelectorAll(`${sel} li`)]
    .some((li: any) => li.dataset.author === who && li.querySelector('.text')?.textContent === want), [byTestId('messages'), author, text] as const, { timeout })
}
/** Nothing sticks out sideways, and each of these elements is wholly on screen horizontally. */
async function fitsWidth (page: Page, ids: string[]): Promise<string[]> {
  return await page.evaluate((list) => {
    const doc = (globalThis as any).document
    const width = doc.documentElement.clientWidth
    const problems: string[] = []
    if (doc.documentElement.scrollWidth > width) problems.push(`the page scrolls sideways (${doc.documentElement.scrollWidth} > ${width})`)
    for (const id of list) {
      const box = doc.querySelector(`[data-testid="${id}"]`)?.getBoundingClientRect()
      if (box === undefined) problems.push(`${id} is missing`)
      else if (box.left < 0 || box.right > width + 0.5 || box.width === 0) problems.push(`${id} spans ${Math.round(box.left)}..${Math.round(box.right)} of ${width}`)
    }
    return problems
  }, ids)
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
    await page.press(byTestId('name'), 'Enter')
    await textIs(page, 'status', 'connected')
    await textIs(page, 'connect', 'Switch user')
    await page.fill(byTestId('room'), 'demo')
    await page.click(byTestId('join'))
    await textIs(page, 'current-room', 'demo')
    return page
  }
  const alice = await open('alice')
  await alice.fill(byTestId('message'), 'said before bob came')
  await alice.press(byTestId('message'), 'Enter')
  await messageShown(alice, 'alice', 'said before bob came')
  const bob = await open('bob')
  await memberShown(alice, 'bob')
  await memberShown(bob, 'alice')
  t.pass('each sees the other in the room')
  await messageShown(bob, 'alice', 'said before bob came')
  t.pass('a late joiner sees the room\'s history')
  await alice.fill(byTestId('message'), 'hello from alice')
  await alice.click(byTestId('send'))
  await messageShown(bob, 'alice', 'hello from alice')
  await messageShown(alice, 'alice', 'hello from alice')
  t.ok(await alice.$eval(`${byTestId('messages')} li.mine:last-child .text`, (el: any) => el.textContent), 'your own messages are set apart')
  t.pass('a message crosses')
  // Typing shows on the other page, and stops with the message.
  await bob.fill(byTestId('message'), 'hi alice, good')
  await textIs(alice, 'typing', 'bob is typing...')
  t.pass('a typing indicator appears on the other page')
  await bob.fill(byTestId('message'), 'hi alice, good to see you')
  await bob.press(byTestId('message'), 'Enter')
  await messageShown(alice, 'bob', 'hi alice, good to see you')
  await textIs(alice, 'typing', '')
  t.pass('and goes when the message comes')
  mkdirSync(ARTIFACTS, { recursive: true })
  await alice.screenshot({ path: join(ARTIFACTS, 'demo.png') })

  // Rooms are tabs: the lobby keeps its own messages; leaving a room closes its tab.
  await bob.click(byTestId('tab-lobby'))
  await textIs(bob, 'current-room', 'lobby')
  t.equal(await bob.$$eval(`${byTestId('messages')} li[data-room="demo"]`, (l) => l.length), 0, 'the lobby tab shows no message of demo')
  await bob.click(byTestId('tab-demo'))
  await messageShown(bob, 'alice', 'hello from alice')

  // Who is online: a dot; a direct message: click someone, write; it opens as a tab on their page.
  t.match(await alice.textContent(byTestId('members-hint')), /Click someone to write to them directly/, 'the page says how a direct conversation starts')
  await alice.waitForSelector(`${byTestId('members')} li[data-user="bob"] .dot.on`)
  await alice.click(`${byTestId('members')} li[data-user="bob"]`)
  await textIs(alice, 'current-room', '@bob')
  await alice.fill(byTestId('message'), 'just between us')
  await alice.press(byTestId('message'), 'Enter')
  await messageShown(alice, 'alice', 'just between us')
  await bob.waitForSelector(byTestId('tab-@alice'))
  await bob.click(byTestId('tab-@alice'))
  await messageShown(bob, 'alice', 'just between us')
  await bob.fill(byTestId('message'), 'agreed')
  await bob.press(byTestId('message'), 'Enter')
  await messageShown(alice, 'bob', 'agreed')
  t.equal(await bob.$$eval(`${byTestId('messages')} li[data-room="demo"]`, (l) => l.length), 0, 'the conversation is a tab of its own')
  t.pass('a direct message between two pages, both ways')
  await alice.click(byTestId('tab-demo'))
  await bob.click(byTestId('tab-demo'))

  // Unread: a badge on a room not in view, on every tab of the user; viewing it on one clears both.
  const alice2 = await open('alice')
  await bob.click(byTestId('tab-lobby'))
  await bob.fill(byTestId('message'), 'news in the lobby')
  await bob.press(byTestId('message'), 'Enter')
  await textIs(alice, 'badge-lobby', '1')
  await textIs(alice2, 'badge-lobby', '1')
  t.pass('an unread badge on the lobby tab, in both of alice\'s tabs')
  await alice2.click(byTestId('tab-lobby'))
  await messageShown(alice2, 'bob', 'news in the lobby')
  await alice.waitForFunction((sel) => (globalThis as any).document.querySelector(sel) === null, byTestId('badge-lobby'), { timeout: 15_000 })
  t.pass('read in her second tab, the badge clears in the first')
  await alice2.close()
  await bob.click(byTestId('tab-demo'))

  // A long unbroken message wraps: nothing is pushed off screen, at desktop and phone widths.
  await alice.fill(byTestId('message'), 'x'.repeat(3000))
  await alice.click(byTestId('send'))
  await messageShown(bob, 'alice', 'x'.repeat(3000))
  for (const width of [1280, 390, 360]) {
    await bob.setViewportSize({ width, height: 800 })
    t.same(await fitsWidth(bob, ['members', 'send', 'message', 'messages', 'leave']), [], `nothing off screen at ${width} px`)
    const top = await bob.$eval(byTestId('members'), (el: any) => el.getBoundingClientRect().top)
    t.ok(top < 800, `the members (where a direct conversation starts) are above the fold at ${width} px: top ${Math.round(top)}`)
  }
  await bob.screenshot({ path: join(ARTIFACTS, 'demo-narrow.png'), fullPage: true })
  await bob.setViewportSize({ width: 1280, height: 800 })

  // Friendly errors that clear: a bad room name, then a good join.
  await bob.fill(byTestId('room'), 'bad room')
  await bob.press(byTestId('room'), 'Enter')
  await bob.waitForFunction((sel) => /no spaces/.test((globalThis as any).document.querySelector(sel)?.textContent ?? ''), byTestId('problem'))
  await bob.fill(byTestId('room'), 'side')
  await bob.press(byTestId('room'), 'Enter')
  await textIs(bob, 'current-room', 'side')
  t.ok(await bob.$eval(byTestId('problem'), (el: any) => el.hidden), 'the problem cleared after a success')
  await bob.click(byTestId('leave'))
  await bob.waitForFunction((sel) => (globalThis as any).document.querySelector(sel) === null, byTestId('tab-side'))
  t.not(await bob.textContent(byTestId('current-room')), 'side', 'leaving closes the tab')
  await bob.click(byTestId('tab-demo'))

  server.kill('SIGTERM')
  await once(server, 'exit')
  await textIs(alice, 'status', 'reconnecting')
  await alice.waitForSelector(`${byTestId('members')} li[data-user="alice"] .dot:not(.on)`)
  t.pass('while reconnecting, the page does not show you online')
  await alice.fill(byTestId('message'), 'typed while away')
  await alice.press(byTestId('message'), 'Enter')
  await alice.waitForSelector(`${byTestId('messages')} li.pending >> text=typed while away`)
  t.pass('a message typed while disconnected shows at once, pending')
  server = await startExample(port)
  await textIs(alice, 'status', 'connected', 30_000)
  await textIs(bob, 'status', 'connected', 30_000)
  t.pass('both reconnected after the restart')
  await messageShown(bob, 'alice', 'typed while away', 30_000)
  await messageShown(alice, 'alice', 'typed while away')
  await alice.waitForFunction((sel) => (globalThis as any).document.querySelector(sel) === null, `${byTestId('messages')} li.pending`)
  t.pass('and is sent once back, no longer pending')
  t.equal(await alice.$$eval(`${byTestId('messages')} li.note`, (l) => l.length), 0, 'nothing was missed, and the page does not say so')
  await bob.fill(byTestId('message'), 'back again')
  await bob.click(byTestId('send'))
  await messageShown(alice, 'bob', 'back again')
  await memberShown(alice, 'bob')
  t.pass('and chat again, in the same room, with presence')
  t.equal(await alice.$$eval(`${byTestId('messages')} li .text`, (l) => l.filter((e: any) => e.textContent === 'hello from alice').length), 1, 'each message shown once after the reconnect')

  await alice.screenshot({ path: join(ARTIFACTS, 'demo-after-restart.png') })
  t.ok(existsSync(join(ARTIFACTS, 'demo.png')) && existsSync(join(ARTIFACTS, 'demo-after-restart.png')), 'screenshots saved in test-artifacts/')
})

// A listing's cursor is opaque and bound to its listing: pages follow on any process, and a
// malformed cursor, a forged one, or one from another listing or room is 400
// FST_CHAT_INVALID_PAGE with Fastify's error body, never a backend's error. On every backend.
import t from 'tap'
import { wrapCursor } from '../lib/page-cursor.js'
import { BACKENDS, processes } from './backends.js'
import { connect, token } from './helpers.js'

const headers = { authorization: `Bearer ${token({ sub: 'reader' })}` }

for (const backend of BACKENDS) {
  t.test(backend.name, async (t) => {
    if (!await backend.ready(t)) return
    const [a, b] = await processes(t, backend, 2)
    const sockets = []
    for (let i = 0; i < 3; i++) {
      for (const app of [a, b]) {
        const ws = await connect(app, token({ sub: `u${i}` }))
        await ws.request({ action: 'join', room: 'other' })
        sockets.push(ws)
      }
    }
    const page = async (app: typeof a, url: string) => {
      const res = await app.inject({ url, headers })
      return { status: res.statusCode, body: res.json() }
    }
    // Pages follow from one process to the other.
    const first = await page(a, '/rooms/lobby/members?limit=2')
    t.equal(first.status, 200)
    const second = await page(b, `/rooms/lobby/members?limit=2&cursor=${first.body.cursor}`)
    const third = await page(a, `/rooms/lobby/members?limit=2&cursor=${second.body.cursor}`)
    t.equal(third.body.cursor, undefined, 'the last page has no cursor')
    t.same(new Set([first, second, third].flatMap((p) => p.body.members.map((m: { clientId: string }) => m.clientId))).size, 6, 'every member once')
    const rooms = await page(a, '/rooms?limit=1')
    t.type(rooms.body.cursor, 'string')

    const bad: Array<[string, string]> = [
      ['garbage', 'garbage'],
      ['a cursor from /rooms', rooms.body.cursor],
      ['another room\'s members cursor', (await page(a, '/rooms/other/members?limit=2')).body.cursor],
      ['a forged inside', wrapCursor('members', 'lobby', 'garbage')],
      ['a forged room cursor', wrapCursor('rooms', '', 'not a room!')],
      ['base64 of nothing of ours', Buffer.from('{"a":1}').toString('base64url')],
      ['too long', 'x'.repeat(600)]
    ]
    for (const [what, cursor] of bad) {
      const res = await page(a, `/rooms/lobby/members?cursor=${encodeURIComponent(cursor)}`)
      t.equal(res.status, 400, `members: ${what}`)
      t.match(res.body, { statusCode: 400, error: 'Bad Request', code: /^FST_(CHAT_INVALID_PAGE|ERR_VALIDATION)$/ }, `members: ${what}: Fastify's error body`)
      t.notMatch(res.body.message, /ERR|float|redis/i, 'never a backend\'s message')
    }
    const wrongListing = await page(a, `/rooms?cursor=${first.body.cursor}`)
    t.match(wrongListing, { status: 400, body: { code: 'FST_CHAT_INVALID_PAGE' } }, 'a members cursor on /rooms')
    t.match(await page(b, `/rooms?cursor=${wrapCursor('rooms', '', 'not a room!')}`), { status: 400, body: { code: 'FST_CHAT_INVALID_PAGE' } })
    await t.rejects(a.chat.memberPage('lobby', { cursor: 'garbage' }), { code: 'FST_CHAT_INVALID_PAGE', statusCode: 400 }, 'app.chat too')
    await t.rejects(a.chat.memberPage('lobby', { cursor: wrapCursor('members', 'lobby', 'x:1') }), { code: 'FST_CHAT_INVALID_PAGE' })
    await t.rejects(a.chat.roomPage({ cursor: first.body.cursor }), { code: 'FST_CHAT_INVALID_PAGE' })
    t.match(await a.inject({ url: '/rooms/lobby', headers }), { statusCode: 200 }, 'the process is fine')
    for (const ws of sockets) ws.close()
  })
}

// Who talks to whom is nobody else's business: to anyone but its two participants (and an admin
// whom canReadDirect lets in), a direct conversation does not exist in any listing or lookup: 404,
// the same answer as for one that never was, and never in GET /rooms, however many there are.
import t from 'tap'
import { directRoom } from '../lib/core/direct.js'
import { adminToken, build, connect, token } from './helpers.js'
import { VARIANTS } from './variants.js'

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

for (const variant of VARIANTS.filter((v) => !v.store)) {
  t.test(variant.name, async (t) => {
    if (!await variant.ready(t)) return

    t.test('a conversation looks the same as one that never was, to anyone else', async (t) => {
      const app = await build(t, { ...variant.options(t), canReadDirect: (admin) => admin.sub === 'auditor' })
      const alice = await connect(app, token({ sub: 'alice' }))
      const bob = await connect(app, token({ sub: 'bob' }))
      await alice.request({ action: 'dm', to: 'bob', content: 'between us' })
      await bob.next((f) => f.type === 'message' && f.to === 'bob')
      const real = directRoom('alice', 'bob')
      const never = directRoom('nobody', 'else')
      const eve = token({ sub: 'eve' })
      for (const path of ['', '/members', '/messages']) {
        const seen = await app.inject({ url: `/rooms/${real}${path}`, headers: bearer(eve) })
        const absent = await app.inject({ url: `/rooms/${never}${path}`, headers: bearer(eve) })
        t.equal(seen.statusCode, 404, `GET /rooms/dm:...${path}`)
        t.same(seen.json(), { ...absent.json(), message: absent.json().message.replace(never, real) }, `${path}: the same answer as for a conversation that never was`)
        t.equal((await app.inject({ url: `/rooms/${real}${path}`, headers: bearer(token({ sub: 'alice' })) })).statusCode, 200, `${path}: a participant reads it`)
      }
      t.match((await app.inject({ url: `/rooms/${real}`, headers: bearer(token({ sub: 'bob' })) })).json(), { name: real, members: 2 })
      t.equal((await app.inject({ url: `/rooms/${real}`, headers: bearer(adminToken('root')) })).statusCode, 404, 'an admin without canReadDirect is anyone else')
      t.equal((await app.inject({ url: `/rooms/${real}`, headers: bearer(adminToken('auditor')) })).statusCode, 200, 'canReadDirect lets an admin in')
      // Over the socket too: joining one that exists and one that never did answer alike.
      const eveWs = await connect(app, eve)
      const joinReal = await eveWs.request({ action: 'join', room: real, ref: 'j' })
      const joinNever = await eveWs.request({ action: 'join', room: never, ref: 'j' })
      t.same(joinReal, { ...joinNever, message: joinNever.message.replace(never, real) }, 'the socket\'s refusal is the same too')
      for (const c of [alice, bob, eveWs]) c.close()
    })

    t.test('GET /rooms lists only the conversations the caller is in, page after page', async (t) => {
      const app = await build(t, { ...variant.options(t), defaultRoom: false, rateLimit: false, canReadDirect: (admin) => admin.sub === 'auditor' })
      const sockets = []
      // 12 conversations between others, and 3 open rooms, all with members now.
      for (let i = 0; i < 12; i++) {
        const ws = await connect(app, token({ sub: `u${i}` }), { defaultRoom: false })
        sockets.push(ws)
        await ws.request({ action: 'dm', to: `v${i}`, content: 'hi' })
      }
      const eveWs = await connect(app, token({ sub: 'eve' }), { defaultRoom: false })
      sockets.push(eveWs)
      for (const room of ['a-room', 'm-room', 'z-room']) await eveWs.request({ action: 'join', room })
      await eveWs.request({ action: 'dm', to: 'frank', content: 'mine' })
      const mine = directRoom('eve', 'frank')

      const pages = async (jwt: string, limit: number) => {
        const names: string[] = []
        let cursor: string | undefined
        let n = 0
        do {
          const res = await app.inject({ url: `/rooms?limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`, headers: bearer(jwt) })
          t.equal(res.statusCode, 200)
          const body = res.json()
          t.ok(body.rooms.length <= limit, 'never more than the limit')
          names.push(...body.rooms.map((r: { name: string }) => r.name))
          cursor = body.cursor
        } while (cursor !== undefined && ++n < 50)
        return names
      }
      for (const limit of [1, 2, 100]) {
        t.same((await pages(token({ sub: 'eve' }), limit)).sort(), ['a-room', mine, 'm-room', 'z-room'].sort(), `limit ${limit}: the open rooms and eve's own conversation`)
      }
      t.same(await pages(token({ sub: 'stranger' }), 2), ['a-room', 'm-room', 'z-room'], 'someone in none of them: the open rooms only')
      t.equal((await pages(adminToken('auditor'), 5)).length, 16, 'canReadDirect\'s admin: every room')
      t.equal((await app.chat.rooms()).length, 16, 'the host\'s own app.chat sees everything')
      for (const c of sockets) c.close()
    })
  })
}

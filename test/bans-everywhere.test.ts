// A ban applies to every way in, not only to the socket: a room ban closes that room's REST reads
// (history, members, the room itself) and takes it out of the user's listings and unread counts;
// a chat-wide ban refuses every authenticated route with 403 FST_CHAT_BANNED; an admin banned from
// a room is no admin there, and one banned from the chat is no admin at all until someone else
// lifts it. On memory and Redis, each with and without the store.
import t from 'tap'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { adminToken, build, connect, token } from './helpers.js'
import { until } from './redis-helpers.js'
import { VARIANTS } from './variants.js'

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

async function get (app: FastifyInstance, url: string, jwt: string) {
  return await app.inject({ url, headers: bearer(jwt) })
}

for (const variant of VARIANTS) {
  t.test(variant.name, async (t) => {
    if (!await variant.ready(t)) return

    t.test('a room ban closes the room\'s REST reads and takes it out of the user\'s lists', async (t) => {
      const app = await build(t, variant.options(t))
      const alice = await connect(app, token({ sub: 'alice' }))
      const bob = await connect(app, token({ sub: 'bob' }))
      for (const c of [alice, bob]) await c.request({ action: 'join', room: 'r' })
      await alice.request({ action: 'message', room: 'r', content: 'before' })
      await app.chat.ban('bob', { room: 'r', reason: 'spam' })
      await bob.next('left')
      await alice.request({ action: 'message', room: 'r', content: 'posted after the ban' })
      const jwt = token({ sub: 'bob' })

      for (const url of ['/rooms/r/messages', '/rooms/r/messages?after=0', '/rooms/r/members', '/rooms/r']) {
        const res = await get(app, url, jwt)
        t.equal(res.statusCode, 403, url)
        t.same(res.json(), { statusCode: 403, code: 'FST_CHAT_BANNED', error: 'Forbidden', message: 'This user is banned from room "r"' }, `${url}: Fastify's error body`)
      }
      t.notOk(JSON.stringify((await get(app, '/rooms', jwt)).json()).includes('"r"'), 'not in the room list')
      t.same((await get(app, '/users/me/unread', jwt)).json().rooms.map((r: any) => r.room), ['lobby'], 'nor in the unread counts')
      t.equal((await get(app, '/rooms/lobby/messages', jwt)).statusCode, 200, 'other rooms stay open')
      t.equal((await get(app, '/rooms/r/messages', token({ sub: 'alice' }))).statusCode, 200, 'and the room to others')

      await app.chat.unban('bob', { room: 'r' })
      const back = await get(app, '/rooms/r/messages', jwt)
      t.equal(back.statusCode, 200, 'lifted: open again')
      t.match(back.json().messages.map((m: any) => m.content), ['before', 'posted after the ban'])
      t.match((await get(app, '/users/me/unread', jwt)).json().rooms.map((r: any) => r.room).sort(), ['lobby', 'r'])
      alice.close(); bob.close()
    })

    t.test('an admin banned from a room is no admin there', async (t) => {
      const app = await build(t, variant.options(t))
      await app.chat.ban('mod', { room: 'r' })
      const mod = adminToken('mod')
      for (const [method, url] of [['GET', '/rooms/r/bans'], ['DELETE', '/rooms/r/bans/mod'], ['PUT', '/rooms/r/mutes/bob'], ['POST', '/rooms/r/messages']] as const) {
        const res = await app.inject({ method, url, headers: bearer(mod), ...(method === 'POST' ? { payload: { content: 'x' } } : method === 'PUT' ? { payload: {} } : {}) })
        t.match({ status: res.statusCode, code: res.json().code }, { status: 403, code: 'FST_CHAT_BANNED' }, `${method} ${url}`)
      }
      t.same((await app.chat.bans('r')).map((b) => b.userId), ['mod'], 'its own ban stands')
      t.equal((await app.inject({ url: '/rooms/other/bans', headers: bearer(mod) })).statusCode, 200, 'an admin still, elsewhere')
      t.equal((await app.inject({ method: 'DELETE', url: '/rooms/r/bans/mod', headers: bearer(adminToken('root')) })).statusCode, 204, 'another admin lifts it')
      t.equal((await app.inject({ url: '/rooms/r/bans', headers: bearer(mod) })).statusCode, 200, 'an admin there again')
    })

    t.test('a chat-wide ban refuses every authenticated route; a banned admin cannot lift its own', async (t) => {
      const routes: RouteOptions[] = []
      const app = await build(t, { ...variant.options(t), before: (app) => { app.addHook('onRoute', (r) => { routes.push(r) }) } })
      const alice = await connect(app, token({ sub: 'alice' }))
      await alice.request({ action: 'message', room: 'lobby', content: 'hello' })
      await app.chat.ban('bob')
      await app.chat.ban('root2')
      const chatRoutes = routes.filter((r) => r.method !== 'HEAD')
      t.ok(chatRoutes.length >= 18, `every route of the plugin (${chatRoutes.length})`)
      for (const [who, jwt] of [['bob', token({ sub: 'bob' })], ['a banned admin', adminToken('root2')]]) {
        for (const r of chatRoutes) {
          const url = r.url.replace(':room', 'lobby').replace(':userId', 'root2').replace(':clientId', alice.id)
          for (const method of [r.method].flat()) {
            const res = await app.inject({ method: method as any, url, headers: bearer(jwt), ...(method === 'GET' || method === 'DELETE' ? {} : { payload: { content: 'x' } }) })
            t.match({ status: res.statusCode, body: res.json() }, { status: 403, body: { statusCode: 403, code: 'FST_CHAT_BANNED', message: 'This user is banned from this chat' } }, `${who}: ${method} ${url}`)
          }
        }
      }
      t.equal((await app.chat.bans('lobby')).length, 0)
      t.equal((await app.inject({ method: 'DELETE', url: '/bans/root2', headers: bearer(adminToken('root')) })).statusCode, 204, 'another admin lifts it')
      t.equal((await get(app, '/rooms', adminToken('root2'))).statusCode, 200, 'an admin again')
      await app.chat.ban('bob', { ttl: 200 })
      t.equal((await get(app, '/rooms', token({ sub: 'bob' }))).statusCode, 403)
      await until(async () => (await get(app, '/rooms', token({ sub: 'bob' }))).statusCode === 200, 5000, 'a ban with a ttl ends by itself on REST too')
      t.pass('a ban with a ttl ends by itself on REST too')
      alice.close()
    })
  })
}

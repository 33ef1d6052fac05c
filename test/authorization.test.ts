import t from 'tap'
import { adminToken, build, connect, token } from './helpers.js'

t.test('canJoin and canSend: FORBIDDEN frames, 403 on REST', async (t) => {
  const app = await build(t, {
    // staff-* rooms for staff only; announcements are read-only but for admins
    canJoin: async (user, room) => !room.startsWith('staff-') || user.role === 'staff',
    canSend: (user, room) => room !== 'announcements' || user.role === 'admin'
  })
  const guest = await connect(app, token({ sub: 'guest' }))
  const staff = await connect(app, token({ sub: 'sam', role: 'staff' }))
  t.match(await guest.request({ action: 'join', room: 'staff-only' }), { type: 'error', code: 'FORBIDDEN' })
  t.equal(await app.chat.room('staff-only'), null, 'the refused join changed nothing')
  t.match(await staff.request({ action: 'join', room: 'staff-only' }), { type: 'joined' })

  t.match(await guest.request({ action: 'join', room: 'announcements' }), { type: 'joined' })
  t.match(await guest.request({ action: 'message', room: 'announcements', content: 'hi' }), { type: 'error', code: 'FORBIDDEN' })
  t.match(await guest.request({ action: 'message', room: 'lobby', content: 'hi' }), { type: 'ack' }, 'elsewhere is fine')

  const admin = { authorization: `Bearer ${adminToken()}` }
  const put = await app.inject({ method: 'PUT', url: `/rooms/staff-only/members/${guest.id}`, headers: admin })
  t.equal(put.statusCode, 403, 'the admin REST join follows canJoin too')
  t.equal(put.json().code, 'FST_CHAT_JOIN_FORBIDDEN')
  await t.rejects(app.chat.join(guest.id, 'staff-only'), { code: 'FST_CHAT_JOIN_FORBIDDEN' })
  const list = (sub: string, role?: string) => app.inject({ url: '/rooms/staff-only/members', headers: { authorization: `Bearer ${token({ sub, role })}` } })
  t.equal((await list('guest')).statusCode, 403, 'members of rooms you may not join are not yours to list')
  t.equal((await list('sam', 'staff')).statusCode, 200)
  t.equal((await list('root', 'admin')).statusCode, 200, 'admins may list any')
  guest.close(); staff.close()
})

t.test('maxConnectionsPerUser: the next upgrade is a 429, before the upgrade', async (t) => {
  const app = await build(t, { maxConnectionsPerUser: 2 })
  const a1 = await connect(app, token({ sub: 'alice' }))
  const a2 = await connect(app, token({ sub: 'alice' }))
  await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'alice' })}` } }), /429/)
  const b = await connect(app, token({ sub: 'bob' }))
  t.ok(b, 'other users are not affected')
  t.equal((await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${token({ sub: 'alice' })}` } })).statusCode, 200, 'REST is not a connection')
  a1.ws.close()
  await a1.closed
  await t.resolves(async () => {
    for (let i = 0; i < 50; i++) {
      try {
        const ws = await app.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'alice' })}` } })
        ws.terminate()
        return
      } catch { await new Promise((resolve) => setImmediate(resolve)) }
    }
    throw new Error('still refused')
  }, 'a slot frees when a socket closes')
  a2.close(); b.close()
})

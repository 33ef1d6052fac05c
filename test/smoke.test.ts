import t from 'tap'
import { build, connect, token } from './helpers.js'

t.test('two clients chat in the lobby', async (t) => {
  const app = await build(t)
  const a = await connect(app, token({ sub: 'alice' }))
  const b = await connect(app, token({ sub: 'bob' }))
  t.match(a.welcome, { type: 'welcome', message: 'Connected to chat server', userId: 'alice' })
  const joinedNote = await a.next('userJoined')
  t.match(joinedNote, { room: 'lobby', clientId: b.id, userId: 'bob' })
  a.send({ action: 'message', room: 'lobby', content: 'hi', ref: 1 })
  const ack = await a.next('ack')
  const mb = await b.next('message')
  const ma = await a.next('message')
  t.same(ma, mb)
  t.match(mb, { room: 'lobby', from: a.id, userId: 'alice', content: 'hi', id: ack.id })
  a.close(); b.close()
})

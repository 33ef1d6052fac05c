import t from 'tap'
import { createSigner } from 'fast-jwt'
import { build, connect, SECRET, token } from './helpers.js'

t.test('one-time tickets: minted with a Bearer token, used once as ?ticket=', async (t) => {
  const app = await build(t)
  const mint = async (headers: Record<string, string>, url = '/chat/tickets') => await app.inject({ method: 'POST', url, headers })
  const res = await mint({ authorization: `Bearer ${token({ sub: 'browser', name: 'B' })}` })
  t.equal(res.statusCode, 200)
  const { ticket, expiresIn } = res.json()
  t.ok(typeof ticket === 'string' && Buffer.from(ticket, 'base64url').length >= 16, 'at least 128 random bits')
  t.ok(expiresIn > 0 && expiresIn <= 30)

  const c = await connect(app, '', { path: `/chat?ticket=${ticket}`, headers: { authorization: '' } })
  t.equal(c.welcome!.userId, 'browser', "the socket carries the minting token's claims")
  await t.rejects(app.injectWS(`/chat?ticket=${ticket}`), /401/, 'a reused ticket')
  await t.rejects(app.injectWS('/chat?ticket=forged-ticket-value'), /401/, 'a forged ticket')
  t.equal((await mint({}, `/chat/tickets?token=${token()}`)).statusCode, 401, 'minting needs the Bearer header')
  t.equal((await mint({})).statusCode, 401, 'and a token')
  const bearerless = await app.inject({ url: `/rooms?ticket=${(await mint({ authorization: `Bearer ${token()}` })).json().ticket}` })
  t.equal(bearerless.statusCode, 401, 'tickets open sockets only, not REST')
  c.close()
})

t.test("a ticket's socket carries the minting token's exp", async (t) => {
  const app = await build(t, { expiryGrace: 0 })
  const short = createSigner({ key: SECRET })({ sub: 'soon', exp: Math.floor(Date.now() / 1000) + 2 })
  const { ticket } = (await app.inject({ method: 'POST', url: '/chat/tickets', headers: { authorization: `Bearer ${short}` } })).json()
  const c = await connect(app, '', { path: `/chat?ticket=${ticket}`, headers: { authorization: '' } })
  t.match(await c.next('tokenExpiring'), { in: Number })
  t.equal((await c.closedWithin()).code, 4001)
})

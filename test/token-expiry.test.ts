import t from 'tap'
import { createSigner } from 'fast-jwt'
import { build, connect, SECRET, token } from './helpers.js'

const sign = createSigner({ key: SECRET })
const expiringIn = (seconds: number, sub = 'alice') => sign({ sub, exp: Math.floor(Date.now() / 1000) + seconds })

t.test('a token expiring while its socket is open: tokenExpiring, then 4001 after the grace', async (t) => {
  const app = await build(t, { expiryGrace: 100 })
  const jwt = expiringIn(2)
  const exp = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).exp
  const a = await connect(app, jwt)
  const warning = await a.next('tokenExpiring')
  t.ok(warning.in > 0 && warning.in <= 2000, `sent right after welcome when less than the lead is left (in ${warning.in} ms)`)
  t.same(await a.closedWithin(), { code: 4001, reason: 'token expired' })
  t.ok(Date.now() >= exp * 1000 + 100, 'not before exp + grace')
})

t.test('tokenExpiring comes tokenExpiringLead ms before exp', async (t) => {
  const app = await build(t, { tokenExpiringLead: 1000, expiryGrace: 0 })
  const jwt = expiringIn(3)
  const exp = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).exp * 1000
  const a = await connect(app, jwt)
  const warning = await a.next('tokenExpiring', 5000)
  const left = exp - Date.now()
  t.ok(left <= 1000 + 50 && left >= 0, `about a second before exp (${left} ms left)`)
  t.ok(Math.abs(warning.in - left) < 200, '"in" is the time left')
  t.equal((await a.closedWithin()).code, 4001)
})

t.test('refresh: a valid token for the same user resets the deadline; any other changes nothing', async (t) => {
  const app = await build(t, { expiryGrace: 100 })
  const kept = await connect(app, expiringIn(2))
  const witness = await connect(app, expiringIn(2, 'witness'))
  await kept.next('tokenExpiring')
  t.match(await kept.request({ action: 'refresh', token: token({ sub: 'bob' }) }), { type: 'error', code: 'UNAUTHORIZED' }, 'another user')
  t.match(await kept.request({ action: 'refresh', token: 'garbage' }), { type: 'error', code: 'UNAUTHORIZED' }, 'not a token')
  t.match(await kept.request({ action: 'refresh', token: sign({ sub: 'alice', exp: 1 }) }), { type: 'error', code: 'UNAUTHORIZED' }, 'expired')
  const fresh = token({ sub: 'alice' })
  const exp = JSON.parse(Buffer.from(fresh.split('.')[1], 'base64url').toString()).exp
  t.same(await kept.request({ action: 'refresh', token: fresh, ref: 'f' }), { type: 'refreshed', exp, ref: 'f' })
  // The witness had the same deadline and did not refresh.
  t.equal((await witness.closedWithin()).code, 4001)
  t.equal(kept.ws.readyState, kept.ws.OPEN, 'the refreshed socket is still open')
  t.match(await kept.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' })
  kept.close()
})

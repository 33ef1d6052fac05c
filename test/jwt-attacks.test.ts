import { createHmac, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { build, SECRET } from './helpers.js'

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
/** A token signed by hand, with any header. */
function forge (header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}
const claims = () => ({ sub: 'mallory', exp: now() + 600 })

t.test('JWT attacks are 401s', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
  const rsaApp = await build(t, { jwt: { secret: { private: privateKey, public: publicKey } }, verify: { algorithms: ['RS256'] } })
  const good = createSigner({ key: privateKey, algorithm: 'RS256', expiresIn: 60_000 })({ sub: 'alice' })
  const ws = await rsaApp.injectWS('/chat', { headers: { authorization: `Bearer ${good}` } })
  t.ok(ws, 'an RS256 token works')
  ws.terminate()
  const confused = forge({ alg: 'HS256', typ: 'JWT' }, claims(), publicKey)
  await t.rejects(rsaApp.injectWS('/chat', { headers: { authorization: `Bearer ${confused}` } }), /401/, 'HS256 signed with the RSA public key (algorithm confusion)')

  const app = await build(t)
  const cases: Record<string, string> = {
    'nbf in the future': createSigner({ key: SECRET })({ sub: 'alice', exp: now() + 600, nbf: now() + 300 }),
    'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`,
    'alg None (case games)': `${b64({ alg: 'None', typ: 'JWT' })}.${b64(claims())}.`,
    'kid path trick, signed with another key': forge({ alg: 'HS256', typ: 'JWT', kid: '../../../../dev/null' }, claims(), 'other-key'),
    'kid path trick, empty key': forge({ alg: 'HS256', typ: 'JWT', kid: '../../../../dev/null' }, claims(), ''),
    'an unknown crit header': forge({ alg: 'HS256', typ: 'JWT', crit: ['x-unknown'], 'x-unknown': 1 }, claims(), SECRET),
    'no exp': forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'mallory' }, SECRET),
    'exp as a string': forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'mallory', exp: 'never' }, SECRET),
    'a huge token': `${b64({ alg: 'HS256' })}.${b64({ sub: 'x'.repeat(20_000), exp: now() + 60 })}.sig`
  }
  for (const [name, jwt] of Object.entries(cases)) {
    await t.rejects(app.injectWS('/chat', { headers: { authorization: `Bearer ${jwt}` } }), /401/, name)
  }
  t.equal((await app.chat.stats()).connections, 0, 'no socket was opened')
})

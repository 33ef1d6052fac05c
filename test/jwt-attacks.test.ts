import { createHmac, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import { ownVerifier } from '../lib/auth.js'
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

t.test('the plugin\'s own verifier answers every bad token as @fastify/jwt does', async (t) => {
  const verify = { algorithms: ['HS256'], allowedIss: 'https://issuer.example' }
  const seen: Record<string, unknown[]> = { own: [], fallback: [], host: [] }
  const recordUser = (name: string) => (app: FastifyInstance) => {
    app.addHook('onResponse', async (request) => { seen[name].push((request as unknown as { user?: { sub?: string } }).user?.sub) })
  }
  const apps = {
    // Our @fastify/jwt options only: one decode, by the plugin's own verifier.
    own: await build(t, { verify, before: recordUser('own') }),
    // An option only @fastify/jwt honours: its request.jwtVerify() does the work.
    fallback: await build(t, { verify, jwt: { secret: SECRET, formatUser: (u) => u }, before: recordUser('fallback') }),
    // The host's own @fastify/jwt.
    host: await build(t, {
      verify,
      noJwt: true,
      before: async (app) => { recordUser('host')(app); await app.register(fastifyJwt, { secret: SECRET }) }
    })
  }
  const iss = 'https://issuer.example'
  const sign = (claims: Record<string, unknown>, opts: Record<string, unknown> = {}) => createSigner({ key: SECRET, ...opts })(claims)
  const cases: Record<string, string> = {
    good: sign({ sub: 'alice', iss, exp: now() + 600 }),
    expired: forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', iss, exp: now() - 600 }, SECRET),
    'bad signature': forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', iss, exp: now() + 600 }, 'another-secret'),
    malformed: 'not.a.token',
    'not a JWT at all': 'garbage',
    'no signature': `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'alice', iss, exp: now() + 600 })}.`,
    'another algorithm': sign({ sub: 'alice', iss, exp: now() + 600 }, { algorithm: 'HS384' }),
    'another issuer': sign({ sub: 'alice', iss: 'https://evil.example', exp: now() + 600 }),
    'no issuer': sign({ sub: 'alice', exp: now() + 600 }),
    'no exp': sign({ sub: 'alice', iss }),
    'nbf in the future': sign({ sub: 'alice', iss, exp: now() + 600, nbf: now() + 300 }),
    'no sub': sign({ iss, exp: now() + 600 })
  }
  for (const [name, jwt] of Object.entries(cases)) {
    const answers = await Promise.all(Object.values(apps).map(async (app) => {
      const res = await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${jwt}` } })
      return { statusCode: res.statusCode, body: res.json() }
    }))
    if (name === 'good') t.equal(answers[0].statusCode, 200, 'a good token is let in')
    else t.equal(answers[0].statusCode, 401, `${name}: 401`)
    t.same(answers[0], answers[2], `${name}: the same answer as the host's @fastify/jwt`)
    t.same(answers[1], answers[2], `${name}: the same answer through our @fastify/jwt`)
  }
  t.same(seen.own[0], 'alice', 'the claims are on request.user, as @fastify/jwt puts them')
  t.same(seen.own, seen.host, 'request.user on every request as with the host\'s @fastify/jwt')
  t.match((await apps.own.inject({ url: '/rooms', headers: { authorization: `Bearer ${cases.expired}` } })).json(), { code: 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED' })
  t.match((await apps.own.inject({ url: '/rooms', headers: { authorization: `Bearer ${cases['bad signature']}` } })).json(), { code: 'FST_JWT_AUTHORIZATION_TOKEN_INVALID' })
  await t.rejects(apps.own.injectWS('/chat', { headers: { authorization: `Bearer ${cases.expired}` } }), /401/, 'an expired token opens no socket')
  const ws = await apps.own.injectWS('/chat', { headers: { authorization: `Bearer ${cases.good}` } })
  t.ok(ws, 'a good token opens a socket')
  ws.terminate()
})

t.test('the own verifier is used only for options it honours as @fastify/jwt does', async (t) => {
  const rules = { algorithms: ['HS256'], requiredClaims: ['exp'] }
  t.type(ownVerifier({ secret: SECRET }, rules), 'function', 'a string secret')
  t.type(ownVerifier({ secret: Buffer.from(SECRET) }, rules), 'function', 'a Buffer secret')
  t.type(ownVerifier({ secret: { public: 'pem', private: 'pem' } }, rules), 'function', 'a key pair (the public key verifies)')
  t.type(ownVerifier({ secret: SECRET, verify: { allowedSub: 'x' } }, rules), 'function', 'verify options fast-jwt applies alone')
  t.equal(ownVerifier({ secret: () => SECRET } as never, rules), undefined, 'a secret callback')
  t.equal(ownVerifier({ secret: SECRET, trusted: () => true }, rules), undefined, 'trusted')
  t.equal(ownVerifier({ secret: SECRET, formatUser: (u) => u }, rules), undefined, 'formatUser')
  t.equal(ownVerifier({ secret: SECRET, messages: { authorizationTokenExpiredMessage: 'gone' } }, rules), undefined, 'custom messages')
  t.equal(ownVerifier({ secret: SECRET, verify: { maxAge: 60 } }, rules), undefined, 'maxAge (converted by @fastify/jwt)')
  const own = ownVerifier({ secret: SECRET }, rules)!
  t.match(own(createSigner({ key: SECRET, expiresIn: 60_000 })({ sub: 'alice' })), { sub: 'alice' }, 'verifies')
  t.throws(() => own('garbage'), { code: 'FST_JWT_AUTHORIZATION_TOKEN_INVALID', statusCode: 401 })
})

/**
 * Who is asking: the onRequest hook that guards the plugin's routes (the socket route before any
 * upgrade, and the REST routes). The only module that knows JWT.
 */
import type { FastifyJWTOptions, VerifyOptions } from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createVerifier, TokenError } from 'fast-jwt'
import { FAST_JWT_MISSING_SIGNATURE, FST_JWT_AUTHORIZATION_TOKEN_EXPIRED, FST_JWT_AUTHORIZATION_TOKEN_INVALID, FST_CHAT_BAD_SUBPROTOCOL, FST_CHAT_NO_TOKEN, FST_CHAT_ORIGIN_FORBIDDEN, FST_CHAT_TOKEN_INVALID, FST_CHAT_TOKEN_NO_SUB, FST_CHAT_TOKEN_BAD_SUB, FST_CHAT_TOO_MANY_CONNECTIONS, FST_CHAT_BAD_TICKET, FST_CHAT_TOO_MANY_FROM_IP, FST_CHAT_OVERLOADED } from './errors.js'
import type { TicketStore } from './adapter/tickets.js'
import type { Admission } from './admission.js'
import type { ChatUser, Restriction } from './model.js'
import type { ResolvedOptions } from './options.js'
import type { Overload } from './overload.js'
import { bannedError, Restrictions } from './core/restrictions.js'
import { userIdProblem } from './user-id.js'

const kToken = Symbol('fastify-chat.token')
const kUser = Symbol('fastify-chat.user')
const kClientId = Symbol('fastify-chat.clientId')
const kRestrictions = Symbol('fastify-chat.restrictions')
const kIp = Symbol('fastify-chat.ip')
const kAdmitted = Symbol('fastify-chat.admitted')

interface ChatRequest {
  [kToken]?: string
  [kUser]?: ChatUser
  [kClientId]?: string
  [kRestrictions]?: Restriction[]
  [kIp]?: string
}

const BEARER = /^Bearer +([^ ]+) *$/i

/** The subprotocol the server speaks; `bearer.<jwt>` beside it carries a browser's token. */
export const SUBPROTOCOL = 'chat.v1'
const BEARER_PROTOCOL = 'bearer.'

/** The offered subprotocols (`Sec-WebSocket-Protocol`), or undefined when none. */
function offeredProtocols (request: FastifyRequest): string[] | undefined {
  const header = request.headers['sec-websocket-protocol']
  if (typeof header !== 'string' || header === '') return undefined
  return header.split(',').map((p) => p.trim())
}

/**
 * The request's token, in this order: `Authorization: Bearer <jwt>`; the `bearer.<jwt>`
 * subprotocol offered beside `chat.v1` (browsers cannot set headers on a WebSocket); the `token`
 * query parameter.
 */
function findToken (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string' && header !== '') {
    const match = BEARER.exec(header)
    return match === null ? undefined : match[1]
  }
  const protocols = offeredProtocols(request)
  const bearer = protocols?.find((p) => p.startsWith(BEARER_PROTOCOL))
  if (bearer !== undefined) {
    if (!protocols!.includes(SUBPROTOCOL)) throw new FST_CHAT_BAD_SUBPROTOCOL()
    return bearer.slice(BEARER_PROTOCOL.length) || undefined
  }
  const query = request.query as Record<string, unknown> | undefined
  const token = query != null && typeof query === 'object' ? query.token : undefined
  return typeof token === 'string' && token !== '' ? token : undefined
}

/**
 * ws's `handleProtocols`: the server answers `chat.v1` when offered, and never selects a
 * `bearer.` entry (it would echo the token in the response).
 */
export function handleProtocols (protocols: Set<string>): string | false {
  return protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false
}

/** The `ticket` query parameter of a socket request. */
function ticketOf (request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined
  const ticket = query != null && typeof query === 'object' ? query.ticket : undefined
  return typeof ticket === 'string' && ticket !== '' && ticket.length <= 128 ? ticket : undefined
}

/** Whether the request came with `Authorization: Bearer` (what minting a ticket needs). */
export function hasBearerHeader (request: FastifyRequest): boolean {
  return typeof request.headers.authorization === 'string' && BEARER.test(request.headers.authorization)
}

/** `@fastify/jwt`'s token lookup, pointed at the token our hook already found. */
function storedToken (request: FastifyRequest): string | undefined {
  return (request as unknown as ChatRequest)[kToken]
}

/**
 * `@fastify/jwt` options for the instance the plugin registers itself: its global verifier reads
 * the token our hook found and applies the plugin's rules (algorithms, required exp, iss, aud),
 * so `request.jwtVerify()` stays on the cached global verifier.
 */
export function jwtPluginOptions (jwt: FastifyJWTOptions, rules: ResolvedOptions['verify']): FastifyJWTOptions {
  return { ...jwt, verify: { ...jwt.verify, ...rules, extractToken: storedToken } } as FastifyJWTOptions
}

/** Options of ours for `@fastify/jwt` that the plugin's own verifier honours as it does. */
const PLAIN_OPTIONS = new Set(['secret', 'sign', 'verify', 'decode', 'decoratorName'])
const PLAIN_VERIFY = new Set(['algorithms', 'allowedIss', 'allowedAud', 'allowedSub', 'allowedJti', 'allowedNonce', 'requiredClaims',
  'clockTolerance', 'ignoreExpiration', 'ignoreNotBefore', 'cache', 'cacheTTL', 'errorCacheTTL'])
const INVALID = new Set<string>([TokenError.codes.invalidKey, TokenError.codes.invalidSignature, TokenError.codes.invalidClaimValue,
  TokenError.codes.missingRequiredClaim, TokenError.codes.malformed, TokenError.codes.invalidType])

/**
 * A verifier of the plugin's own, built once, for the `jwt` options given to the plugin: a token
 * is decoded once (`request.jwtVerify()` decodes it to find the key, then again to verify) and
 * nothing is allocated per call for options. Its errors are `@fastify/jwt`'s (same codes, messages
 * and status). Undefined where only `@fastify/jwt` can do the work: a secret callback, `trusted`,
 * `formatUser`, custom messages, `maxAge`, any option this list does not know.
 */
export function ownVerifier (jwt: FastifyJWTOptions, rules: ResolvedOptions['verify']): ((token: string) => unknown) | undefined {
  const secret = jwt.secret as unknown
  const key = typeof secret === 'string' || Buffer.isBuffer(secret)
    ? secret
    : (secret as { public?: unknown } | null)?.public
  if (typeof key !== 'string' && !Buffer.isBuffer(key)) return undefined
  if (Object.keys(jwt).some((k) => !PLAIN_OPTIONS.has(k))) return undefined
  if (Object.keys(jwt.verify ?? {}).some((k) => !PLAIN_VERIFY.has(k))) return undefined
  const verifier = createVerifier({ ...jwt.verify, ...rules, key } as unknown as Parameters<typeof createVerifier>[0]) as (token: string) => unknown
  return (token) => {
    try {
      return verifier(token)
    } catch (err) {
      throw jwtError(err as { code?: string, message: string })
    }
  }
}

/** fast-jwt's error as `@fastify/jwt` reports it; what it lets through (a 500) is a 401 of ours. */
function jwtError (err: { code?: string, message: string }): Error {
  if (err.code === TokenError.codes.expired) return new FST_JWT_AUTHORIZATION_TOKEN_EXPIRED()
  if (err.code === TokenError.codes.missingSignature) return new FAST_JWT_MISSING_SIGNATURE()
  if (err.code !== undefined && INVALID.has(err.code)) return new FST_JWT_AUTHORIZATION_TOKEN_INVALID(err.message)
  if (err.code?.startsWith('FAST_JWT_') === true) return new FST_CHAT_TOKEN_INVALID(err.message)
  return err as Error
}

/**
 * Builds the onRequest hook: find the token, verify it (with our own verifier where `ownVerifier`
 * made one, else `request.jwtVerify()`), require a `sub` that is a usable user id. Any failure is
 * a 401 with Fastify's error body, before any upgrade.
 * @param ownJwt whether `@fastify/jwt` was registered by the plugin (with `jwtPluginOptions`)
 * @param admit reserves a place for one more connection of the user, across every process (its
 * clientId), or undefined when the user has `maxConnectionsPerUser` already
 * @param restrictionsOf a user's bans and mutes in force (a REST request's user is checked against
 * them: a chat-wide ban is refused here, a room's by the routes of that room)
 */
export function authHook (opts: ResolvedOptions, ownJwt: boolean, own: ((token: string) => unknown) | undefined, admission: Admission, tickets: TicketStore,
  admit: (userId: string) => Promise<Admitted>, overload: Overload, restrictionsOf: (userId: string) => Promise<Restriction[]>) {
  // The host's own @fastify/jwt gets the plugin's rules and our token on every call (@fastify/jwt
  // honours a per-call `extractToken` at run time; its types only know the global one).
  const hostVerify = Object.freeze({ ...opts.verify, extractToken: storedToken }) as unknown as Partial<VerifyOptions>
  const origins = opts.allowedOrigins
  // @fastify/jwt sets the claims on the request; so does our own verifier.
  const decorator = (opts.jwt as { decoratorName?: string } | undefined)?.decoratorName ?? 'user'
  return async function chatAuth (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
      await authenticate(request, false)
      // A REST call may still carry ?token= (accepted, as before), but the routes' schemas only
      // document the socket's: it is gone before they validate the query.
      const query = request.query as Record<string, unknown> | undefined
      if (query != null && typeof query === 'object' && 'token' in query) delete query.token
      // A ban applies to every way in: the whole chat's to every route, a room's to its routes.
      const state = request as unknown as ChatRequest
      const restrictions = await restrictionsOf(state[kUser]!.sub)
      if (restrictions.length === 0) return
      const banned = new Restrictions(restrictions).find('ban', undefined)
      if (banned !== undefined) throw bannedError(banned)
      state[kRestrictions] = restrictions
      return
    }
    if (origins !== undefined) {
      const origin = request.headers.origin
      if (origin !== undefined && !origins.has(origin)) throw new FST_CHAT_ORIGIN_FORBIDDEN()
    }
    // Before any token work: a flood from one address costs as little as possible.
    // The address is read only for a per-IP limit (see Admission.perIp), and kept for the socket.
    if (admission.perIp) {
      const ip = (request as unknown as ChatRequest)[kIp] = request.ip ?? ''
      if (!admission.recordAttempt(ip)) throw new FST_CHAT_TOO_MANY_FROM_IP()
    }
    // Overloaded: refused, to come back after Retry-After.
    const wait = overload.refuse()
    if (wait !== undefined) {
      reply.header('retry-after', String(wait))
      throw new FST_CHAT_OVERLOADED(wait)
    }
    overload.begin()
    try {
      await authenticate(request, true)
    } finally {
      overload.end()
    }
    ;(request.raw as { [kAdmitted]?: true })[kAdmitted] = true
  }

  async function authenticate (request: FastifyRequest, upgrade: boolean): Promise<void> {
    const token = findToken(request)
    const state = request as unknown as ChatRequest
    if (token === undefined) {
      const ticket = upgrade ? ticketOf(request) : undefined
      if (ticket === undefined) throw new FST_CHAT_NO_TOKEN()
      // A one-time ticket: the socket carries the minting token's claims, its exp included.
      const raw = await tickets.redeem(ticket)
      const claims = raw === null ? undefined : JSON.parse(raw) as ChatUser
      if (claims === undefined || (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now())) throw new FST_CHAT_BAD_TICKET()
      admitted(state, await admit(claims.sub))
      state[kUser] = claims
      return
    }
    let claims: unknown
    if (own !== undefined) {
      claims = own(token)
      ;(request as unknown as Record<string, unknown>)[decorator] = claims
    } else {
      state[kToken] = token
      claims = await slowVerify(request)
    }
    const sub = subOf(claims, opts.userIdMax)
    if (upgrade) {
      admitted(state, await admit(sub))
    }
    state[kUser] = claims as ChatUser
  }

  /** Through `@fastify/jwt` (the host's, or ours with options only it honours). */
  async function slowVerify (request: FastifyRequest): Promise<unknown> {
    try {
      return ownJwt ? await request.jwtVerify() : await request.jwtVerify(hostVerify)
    } catch (err) {
      // @fastify/jwt maps most token errors to 401 but lets some of fast-jwt's through as they
      // are (a disallowed algorithm would be a 500): a bad token is always a 401.
      const e = err as { code?: string, statusCode?: number, message?: string }
      if (typeof e.code === 'string' && e.code.startsWith('FAST_JWT_') && (e.statusCode ?? 500) >= 500) {
        throw new FST_CHAT_TOKEN_INVALID(e.message ?? e.code)
      }
      throw err
    }
  }
}

/** The claims' `sub`, if it is a usable user id (401 otherwise: none, or FST_CHAT_TOKEN_BAD_SUB saying why). */
function subOf (claims: unknown, max: number): string {
  const sub = (claims as { sub?: unknown } | null)?.sub
  if (typeof sub !== 'string' || sub === '') throw new FST_CHAT_TOKEN_NO_SUB()
  const bad = userIdProblem(sub, max)
  if (bad !== undefined) throw new FST_CHAT_TOKEN_BAD_SUB(bad)
  return sub
}

/** What admission answers: a place (with the user's restrictions), a chat-wide ban, or none (too many connections). */
export type Admitted = { clientId: string, restrictions: Restriction[] } | { banned: Restriction } | undefined

function admitted (state: ChatRequest, a: Admitted): void {
  if (a === undefined) throw new FST_CHAT_TOO_MANY_CONNECTIONS()
  if ('banned' in a) throw bannedError(a.banned)
  state[kClientId] = a.clientId
  if (a.restrictions.length > 0) state[kRestrictions] = a.restrictions
}

/** Whether this raw request is an upgrade to our socket route that the hook let through. */
export function isChatUpgrade (raw: object): boolean {
  return (raw as { [kAdmitted]?: true })[kAdmitted] === true
}

/** The user's bans and mutes, as its admission (or, for a REST request, the hook) found them. */
export function chatRestrictions (request: FastifyRequest): Restriction[] | undefined {
  return (request as unknown as ChatRequest)[kRestrictions]
}

/** The verified claims of a request that went through the hook. */
export function chatUser (request: FastifyRequest): ChatUser {
  const user = (request as unknown as ChatRequest)[kUser]
  if (user === undefined) throw new Error('fastify-chat: route reached without authentication')
  return user
}

/** The client's address as the hook read it for a per-IP limit ('' when none is on: not read). */
export function chatIp (request: FastifyRequest): string {
  return (request as unknown as ChatRequest)[kIp] ?? ''
}

/** The clientId reserved for an upgrade that went through the hook. */
export function chatClientId (request: FastifyRequest): string {
  const id = (request as unknown as ChatRequest)[kClientId]
  if (id === undefined) throw new Error('fastify-chat: socket route reached without admission')
  return id
}

/**
 * Verifies a token sent over the socket (`refresh`) with the same rules as the upgrade's;
 * resolves with its claims or rejects.
 */
export function tokenVerifier (instance: FastifyInstance, opts: ResolvedOptions, ownJwt: boolean, own: ((token: string) => unknown) | undefined): (token: string) => Promise<ChatUser> {
  return async (token) => {
    const claims = own !== undefined ? own(token) : ownJwt ? await instance.jwt.verify(token) : await instance.jwt.verify(token, opts.verify as never)
    subOf(claims, opts.userIdMax)
    return claims as ChatUser
  }
}

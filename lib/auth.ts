/**
 * Who is asking: the onRequest hook that guards the plugin's routes (the socket route before any
 * upgrade, and the REST routes). The only module that knows JWT.
 */
import type { FastifyJWTOptions, VerifyOptions } from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { FST_CHAT_FORBIDDEN, FST_CHAT_NO_TOKEN, FST_CHAT_TOKEN_NO_SUB } from './errors.js'
import type { ChatUser } from './types.js'

const kToken = Symbol('fastify-chat.token')
const kUser = Symbol('fastify-chat.user')

interface ChatRequest {
  [kToken]?: string
  [kUser]?: ChatUser
}

const BEARER = /^Bearer +([^ ]+) *$/i

/**
 * The request's token: `Authorization: Bearer <jwt>` first, else the `token` query parameter
 * (browsers cannot set headers on a WebSocket).
 */
function findToken (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string' && header !== '') {
    const match = BEARER.exec(header)
    return match === null ? undefined : match[1]
  }
  const query = request.query as Record<string, unknown> | undefined
  const token = query != null && typeof query === 'object' ? query.token : undefined
  return typeof token === 'string' && token !== '' ? token : undefined
}

/** `@fastify/jwt`'s token lookup, pointed at the token our hook already found. */
function storedToken (request: FastifyRequest): string | undefined {
  return (request as unknown as ChatRequest)[kToken]
}

// @fastify/jwt honours a per-call `extractToken` at run time; its types only know the global one.
const VERIFY_STORED = Object.freeze({ extractToken: storedToken }) as unknown as Partial<VerifyOptions>

/**
 * `@fastify/jwt` options for the instance the plugin registers itself: its global verifier reads
 * the token our hook found, so `request.jwtVerify()` stays on the cached global verifier.
 */
export function jwtPluginOptions (jwt: FastifyJWTOptions): FastifyJWTOptions {
  return { ...jwt, verify: { ...jwt.verify, extractToken: storedToken } } as FastifyJWTOptions
}

/**
 * Builds the onRequest hook: find the token, verify it with `request.jwtVerify()`, require a
 * `sub`. Any failure is a 401 with Fastify's error body, before any upgrade.
 * @param ownJwt whether `@fastify/jwt` was registered by the plugin (with `jwtPluginOptions`)
 */
export function authHook (ownJwt: boolean) {
  return async function chatAuth (request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = findToken(request)
    if (token === undefined) throw new FST_CHAT_NO_TOKEN()
    const state = request as unknown as ChatRequest
    state[kToken] = token
    // The host's own @fastify/jwt reads the Authorization header by default; point it at the
    // token we found only when it came from elsewhere.
    const claims = ownJwt || request.headers.authorization !== undefined
      ? await request.jwtVerify()
      : await request.jwtVerify(VERIFY_STORED)
    const sub = (claims as { sub?: unknown } | null)?.sub
    if (typeof sub !== 'string' || sub === '') throw new FST_CHAT_TOKEN_NO_SUB()
    state[kUser] = claims as ChatUser
  }
}

/** The verified claims of a request that went through the hook. */
export function chatUser (request: FastifyRequest): ChatUser {
  const user = (request as unknown as ChatRequest)[kUser]
  if (user === undefined) throw new Error('fastify-chat: route reached without authentication')
  return user
}

/** A preHandler for the changing REST endpoints: `isAdmin(user)` or 403. */
export function adminOnly (isAdmin: (user: ChatUser, request: FastifyRequest) => boolean | Promise<boolean>) {
  return async function chatAdminOnly (request: FastifyRequest): Promise<void> {
    if (await isAdmin(chatUser(request), request) !== true) throw new FST_CHAT_FORBIDDEN()
  }
}

import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FastifyJWTOptions } from '@fastify/jwt'
import { ROOM_REGEXP } from './constants.js'
import type { TSchema } from '@sinclair/typebox'
import type { AdapterFactory } from './adapter/contract.js'
import type { StoreFactory } from './store/contract.js'
import type { ChatUser, HistoryLimits } from './model.js'
import type { ChatPluginOptions } from './types.js'
import { fail, flag, integer, MAX_TIMER_MS, number, resolveAdmission, resolvePresence, routePath } from './option-checks.js'
import type { OverloadOptions } from './overload.js'
import { MAX_USER_ID, routerParamLimit } from './user-id.js'

/** The options after defaults and validation: what every module reads. Frozen. */
export interface ResolvedOptions {
  /** `undefined` when the host's own `@fastify/jwt` is reused. */
  readonly jwt: FastifyJWTOptions | undefined
  readonly path: string
  readonly roomsPrefix: string
  readonly defaultRoom: string | false
  readonly maxPayload: number
  readonly maxMessageLength: number
  readonly maxRoomsPerConnection: number
  readonly rateLimit: Readonly<Required<Exclude<ChatPluginOptions['rateLimit'], false | undefined>>> | false
  readonly heartbeatInterval: number
  readonly maxBufferedAmount: number
  readonly slowConsumerHighWaterMark: number
  /** Announce joins and leaves in rooms of at most this many members (Infinity: always, 0: never). */
  readonly presenceLimit: number
  /** At most one presence frame per room per this many ms (0: each change at once). */
  readonly presenceBatch: number
  /** Who presence frames are about: users (first connection in, last out) or connections. */
  readonly presenceBy: 'user' | 'connection'
  readonly history: HistoryLimits
  /** @fastify/jwt verify options applied on every verification. */
  readonly verify: Readonly<{ algorithms: string[], requiredClaims: string[], allowedIss?: string | string[], allowedAud?: string | string[] }>
  readonly allowedOrigins: ReadonlySet<string> | undefined
  readonly canJoin: ((user: ChatUser, room: string) => boolean | Promise<boolean>) | undefined
  readonly canSend: ((user: ChatUser, room: string) => boolean | Promise<boolean>) | undefined
  readonly maxConnectionsPerUser: number
  readonly metrics: false | true | { registry?: unknown, prefix?: string }
  readonly maxConnectionsPerIp: number
  readonly maxConnectAttemptsPerIp: number
  readonly maxRoomsPerProcess: number
  readonly maxMembersPerRoom: number
  readonly tokenExpiringLead: number
  readonly expiryGrace: number
  readonly isAdmin: (user: ChatUser, request?: FastifyRequest) => boolean | Promise<boolean>
  readonly onMessage: ChatPluginOptions['onMessage']
  readonly hookTimeout: number
  /** How long a user counts as typing after its last `typing: true`, ms. */
  readonly typingTtl: number
  /** `typing` frames a connection may send per second (a bucket of its own; over it they are dropped). */
  readonly typingRate: number
  /** Whether a room's members hear of each other's read markers (`read` frames); a user's own connections always do. */
  readonly readReceipts: boolean
  /** Load shedding of upgrades, or false. */
  readonly admission: OverloadOptions | false
  readonly maxMetaBytes: number
  readonly metaSchema: TSchema | undefined
  readonly canEdit: ChatPluginOptions['canEdit']
  readonly canSeePresence: ChatPluginOptions['canSeePresence']
  readonly canMessage: ChatPluginOptions['canMessage']
  readonly maxNewConversationsPerMinute: number
  /** The longest user id: 256, or the router's maxParamLength when lower (see user-id.ts). */
  readonly userIdMax: number
  readonly canReadDirect: ChatPluginOptions['canReadDirect']
  readonly canDelete: ChatPluginOptions['canDelete']
  readonly store: StoreFactory | undefined
  readonly adapter: AdapterFactory | undefined
  readonly prefix: string | undefined
  /** The host's OpenAPI security scheme every chat route declares, if any. */
  readonly openapiSecurityScheme: string | undefined
}

const KNOWN = new Set([
  'jwt', 'path', 'roomsPrefix', 'defaultRoom', 'maxPayload', 'maxMessageLength',
  'maxRoomsPerConnection', 'rateLimit', 'heartbeatInterval', 'maxBufferedAmount', 'slowConsumerHighWaterMark', 'presence', 'history', 'verify', 'allowedOrigins', 'tokenExpiringLead', 'expiryGrace', 'canJoin', 'canSend', 'maxConnectionsPerUser', 'maxConnectionsPerIp', 'maxConnectAttemptsPerIp', 'maxRoomsPerProcess', 'maxMembersPerRoom', 'metrics', 'isAdmin',
  'adapter', 'prefix', 'openapi', 'onMessage', 'hookTimeout', 'typingTtl', 'typingRate', 'maxMetaBytes', 'metaSchema', 'canEdit', 'canDelete', 'canSeePresence', 'canMessage', 'canReadDirect', 'maxNewConversationsPerMinute', 'store', 'readReceipts', 'admission',
  // Fastify's own register options, passed along with ours
  'logLevel', 'logSerializers'
])

function defaultIsAdmin (user: ChatUser): boolean {
  return user.role === 'admin'
}

/**
 * Applies defaults and validates every option once, up front. A bad option throws
 * `FST_CHAT_INVALID_OPTION` naming it, which fails `register`.
 */
export function resolveOptions (fastify: FastifyInstance, opts: ChatPluginOptions): ResolvedOptions {
  if (opts === null || typeof opts !== 'object') fail('options', 'must be an object', opts)
  for (const key of Object.keys(opts)) {
    if (!KNOWN.has(key)) fail(key, 'is not an option of fastify-chat', (opts as Record<string, unknown>)[key])
  }

  const hostJwt = (fastify as { jwt?: unknown }).jwt !== undefined
  let jwt: FastifyJWTOptions | undefined
  if (opts.jwt === undefined) {
    if (!hostJwt) fail('jwt', 'is required (at least { secret }) unless @fastify/jwt is already registered', opts.jwt)
  } else {
    if (opts.jwt === null || typeof opts.jwt !== 'object') fail('jwt', 'must be an object of @fastify/jwt options', opts.jwt)
    if (hostJwt) fail('jwt', '@fastify/jwt is already registered on this instance: leave "jwt" out to reuse it', '{...}')
    const secret = (opts.jwt as { secret?: unknown }).secret
    if (secret === undefined || secret === null || secret === '') {
      fail('jwt.secret', 'is required', secret)
    }
    jwt = opts.jwt
  }

  const defaultRoom = opts.defaultRoom === undefined ? 'lobby' : opts.defaultRoom
  if (defaultRoom !== false && (typeof defaultRoom !== 'string' || !ROOM_REGEXP.test(defaultRoom))) {
    fail('defaultRoom', 'must be a room name (1 to 64 of A-Z a-z 0-9 _ . : -) or false', defaultRoom)
  }

  let rateLimit: ResolvedOptions['rateLimit'] = false
  if (opts.rateLimit !== false) {
    const rl = opts.rateLimit ?? {}
    if (rl === null || typeof rl !== 'object') fail('rateLimit', 'must be an object or false', rl)
    for (const key of Object.keys(rl)) {
      if (key !== 'perSecond' && key !== 'burst' && key !== 'maxViolations') fail(`rateLimit.${key}`, 'is not a rate limit option', (rl as Record<string, unknown>)[key])
    }
    rateLimit = Object.freeze({
      perSecond: number('rateLimit.perSecond', rl.perSecond, 20, Number.MIN_VALUE, 1e6),
      burst: integer('rateLimit.burst', rl.burst, 40, 1, 1e6),
      maxViolations: integer('rateLimit.maxViolations', rl.maxViolations, 100, 0, 1e9)
    })
  }

  if (opts.canJoin !== undefined && typeof opts.canJoin !== 'function') fail('canJoin', 'must be a function (user, room) => boolean', opts.canJoin)
  if (opts.canSend !== undefined && typeof opts.canSend !== 'function') fail('canSend', 'must be a function (user, room) => boolean', opts.canSend)
  for (const name of ['isAdmin', 'onMessage', 'canEdit', 'canDelete', 'canSeePresence', 'canMessage', 'canReadDirect'] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== 'function') fail(name, 'must be a function', opts[name])
  }
  if (opts.store !== undefined && typeof opts.store !== 'function') fail('store', 'must be a store factory such as postgresStore({ pool })', typeof opts.store)
  const metaSchema = opts.metaSchema
  if (metaSchema !== undefined && (metaSchema === null || typeof metaSchema !== 'object' || (metaSchema as { type?: unknown }).type !== 'object')) {
    fail('metaSchema', 'must be a TypeBox object schema (Type.Object({...}))', metaSchema)
  }
  const adapter = opts.adapter
  if (adapter !== undefined && typeof adapter !== 'function') {
    fail('adapter', 'must be an adapter factory such as memoryAdapter() or redisAdapter({ client })', typeof adapter)
  }
  if (opts.prefix !== undefined) routePath('prefix', opts.prefix, '')
  const h = opts.history === false ? { size: 0, maxBytes: 0 } : opts.history ?? {}
  if (h === null || typeof h !== 'object') fail('history', 'must be an object { size, ttl, maxBytes } or false', h)
  for (const key of Object.keys(h)) {
    if (key !== 'size' && key !== 'ttl' && key !== 'maxBytes') fail(`history.${key}`, 'is not a history option', (h as Record<string, unknown>)[key])
  }
  const history = Object.freeze({
    size: opts.history === false ? 0 : integer('history.size', h.size, 100, 1, 100000),
    ttl: integer('history.ttl', h.ttl, 600000, 1000, MAX_TIMER_MS),
    maxBytes: opts.history === false ? 0 : integer('history.maxBytes', h.maxBytes, 64 * 1024 * 1024, 64 * 1024, 2 ** 40)
  })
  const v = opts.verify ?? {}
  if (v === null || typeof v !== 'object') fail('verify', 'must be an object { algorithms, requireExp, allowedIss, allowedAud }', v)
  for (const key of Object.keys(v)) {
    if (!['algorithms', 'requireExp', 'allowedIss', 'allowedAud'].includes(key)) fail(`verify.${key}`, 'is not a verify option', (v as Record<string, unknown>)[key])
  }
  const algorithms = v.algorithms ?? ['HS256']
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string' && /^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$/.test(a))) {
    fail('verify.algorithms', 'must be a non-empty list of JWS algorithms such as ["HS256"] or ["RS256"] ("none" is never accepted)', algorithms)
  }
  if (v.requireExp !== undefined && typeof v.requireExp !== 'boolean') fail('verify.requireExp', 'must be a boolean', v.requireExp)
  const claimList = (name: string, value: unknown) => {
    if (value !== undefined && typeof value !== 'string' && !(Array.isArray(value) && value.every((x) => typeof x === 'string'))) {
      fail(`verify.${name}`, 'must be a string or a list of strings', value)
    }
  }
  claimList('allowedIss', v.allowedIss)
  claimList('allowedAud', v.allowedAud)
  const verify = Object.freeze({
    algorithms: [...algorithms],
    // fast-jwt skips an allowed-value check when the claim is absent: a configured issuer or
    // audience must also make its claim required, or a token without it would pass.
    requiredClaims: [
      ...(v.requireExp === false ? [] : ['exp']),
      ...(v.allowedIss === undefined ? [] : ['iss']),
      ...(v.allowedAud === undefined ? [] : ['aud'])
    ],
    ...(v.allowedIss === undefined ? {} : { allowedIss: v.allowedIss }),
    ...(v.allowedAud === undefined ? {} : { allowedAud: v.allowedAud })
  })
  let allowedOrigins: Set<string> | undefined
  if (opts.allowedOrigins !== undefined) {
    if (!Array.isArray(opts.allowedOrigins) || !opts.allowedOrigins.every((o) => typeof o === 'string' && /^https?:\/\/[^/\s]+$/.test(o))) {
      fail('allowedOrigins', 'must be a list of origins such as "https://app.example.com" (scheme and host, no path)', opts.allowedOrigins)
    }
    allowedOrigins = new Set(opts.allowedOrigins)
  }
  const openapi = opts.openapi ?? {}
  if (openapi === null || typeof openapi !== 'object') fail('openapi', 'must be an object { securityScheme }', openapi)
  for (const key of Object.keys(openapi)) {
    if (key !== 'securityScheme') fail(`openapi.${key}`, 'is not an openapi option', (openapi as Record<string, unknown>)[key])
  }
  const scheme = openapi.securityScheme
  if (scheme !== undefined && (typeof scheme !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(scheme))) {
    fail('openapi.securityScheme', 'must be the name of a security scheme in components.securitySchemes', scheme)
  }
  const { presenceLimit, presenceBy, presenceBatch } = resolvePresence(opts.presence)

  return Object.freeze({
    jwt,
    path: routePath('path', opts.path, '/chat'),
    roomsPrefix: routePath('roomsPrefix', opts.roomsPrefix, '/rooms'),
    defaultRoom,
    maxPayload: integer('maxPayload', opts.maxPayload, 65536, 64, 100 * 1024 * 1024),
    maxMessageLength: integer('maxMessageLength', opts.maxMessageLength, 4000, 1, 10 * 1024 * 1024),
    maxRoomsPerConnection: integer('maxRoomsPerConnection', opts.maxRoomsPerConnection, 100, 1, 100000),
    rateLimit,
    heartbeatInterval: integer('heartbeatInterval', opts.heartbeatInterval, 30000, 0, MAX_TIMER_MS),
    maxBufferedAmount: integer('maxBufferedAmount', opts.maxBufferedAmount, 4 * 1024 * 1024, 1024, 2 ** 40),
    slowConsumerHighWaterMark: integer('slowConsumerHighWaterMark', opts.slowConsumerHighWaterMark, 1024 * 1024, 1024, 2 ** 40),
    presenceLimit,
    presenceBatch,
    presenceBy,
    history,
    verify,
    allowedOrigins,
    canJoin: opts.canJoin,
    canSend: opts.canSend,
    metrics: opts.metrics === undefined || opts.metrics === false ? false : opts.metrics === true ? true : (typeof opts.metrics === 'object' && opts.metrics !== null ? opts.metrics : fail('metrics', 'must be true, false or { registry, prefix }', opts.metrics)),
    maxConnectionsPerUser: integer('maxConnectionsPerUser', opts.maxConnectionsPerUser, 10, 1, 1e6),
    maxConnectionsPerIp: integer('maxConnectionsPerIp', opts.maxConnectionsPerIp, 0, 0, 1e9),
    maxConnectAttemptsPerIp: integer('maxConnectAttemptsPerIp', opts.maxConnectAttemptsPerIp, 0, 0, 1e9),
    maxRoomsPerProcess: integer('maxRoomsPerProcess', opts.maxRoomsPerProcess, 100000, 1, 1e9),
    maxMembersPerRoom: integer('maxMembersPerRoom', opts.maxMembersPerRoom, 100000, 1, 1e9),
    tokenExpiringLead: integer('tokenExpiringLead', opts.tokenExpiringLead, 30000, 0, MAX_TIMER_MS),
    expiryGrace: integer('expiryGrace', opts.expiryGrace, 1000, 0, 5000),
    isAdmin: opts.isAdmin ?? defaultIsAdmin,
    onMessage: opts.onMessage,
    hookTimeout: integer('hookTimeout', opts.hookTimeout, 2000, 1, MAX_TIMER_MS),
    typingTtl: integer('typingTtl', opts.typingTtl, 6000, 500, 600_000),
    typingRate: integer('typingRate', opts.typingRate, 5, 1, 1000),
    readReceipts: flag('readReceipts', opts.readReceipts, true),
    admission: resolveAdmission(opts.admission),
    maxMetaBytes: integer('maxMetaBytes', opts.maxMetaBytes, 2048, 2, 1024 * 1024),
    metaSchema,
    canEdit: opts.canEdit,
    canSeePresence: opts.canSeePresence,
    canMessage: opts.canMessage,
    maxNewConversationsPerMinute: integer('maxNewConversationsPerMinute', opts.maxNewConversationsPerMinute, 20, 1, 1e6),
    userIdMax: Math.min(MAX_USER_ID, routerParamLimit(fastify.initialConfig)),
    canReadDirect: opts.canReadDirect,
    canDelete: opts.canDelete,
    store: opts.store,
    adapter,
    prefix: opts.prefix,
    openapiSecurityScheme: scheme
  })
}

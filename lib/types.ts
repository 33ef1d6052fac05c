import type { FastifyJWTOptions } from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import type { TSchema } from '@sinclair/typebox'
import type { AdapterFactory } from './adapter/contract.js'
import type { StoreFactory } from './store/contract.js'
import type { ChatUser } from './model.js'
import type { ChatApi } from './api-types.js'

export type { ChatStats, ChatUser, HistoryPage, LeaveReason, Member, MemberInfo, Restriction, RestrictionKind, RoomInfo, RoomUser } from './model.js'
export type { RestrictOptions } from './moderation.js'
export type { ChatApi, ChatEventMap, ChatEventName } from './api-types.js'

/** What `onMessage` sees of a message on its way. */
export interface MessageContext {
  /** The sender's token claims. */
  user: ChatUser
  clientId: string
  room: string
  content: string
  meta: Record<string, unknown> | undefined
  /** Set when the message is an edit: the id of the message edited. */
  edit?: string
  /** Set when it is a direct message: its recipient's user id. */
  to?: string
}

/** What `onMessage` may answer: accept it changed, or refuse it. */
export type MessageVerdict = { content?: string, meta?: Record<string, unknown> } | { reject: string }

/** A message as `canEdit` and `canDelete` see it. */
export interface MessageInfo {
  room: string
  id: string
  seq: number
  /** Its author. */
  userId: string
  content: string
  meta?: Record<string, unknown>
  /** When it was sent, ms. */
  timestamp: number
}

/** What every token must satisfy, whoever registered `@fastify/jwt`. */
export interface TokenRules {
  /** Accepted signing algorithms. Default `['HS256']`: set yours for RS256, ES256, ... keys. */
  algorithms?: string[]
  /** Refuse a token without `exp` (401). Default true. */
  requireExp?: boolean
  /** Accepted issuers (`iss`), passed to `@fastify/jwt`'s verifier. */
  allowedIss?: string | string[]
  /** Accepted audiences (`aud`), passed to `@fastify/jwt`'s verifier. */
  allowedAud?: string | string[]
}

/** The token bucket every connection's frames go through. */
export interface RateLimitOptions {
  /** Tokens added per second. Default 20. */
  perSecond?: number
  /** Bucket size; a new connection starts full. Default 40. */
  burst?: number
  /** A connection with more refused frames than this within a minute is closed with 1008. Default 100. */
  maxViolations?: number
}

/** Per-room history limits. */
export interface HistoryOptions {
  size?: number
  ttl?: number
  maxBytes?: number
}

/** Options of `app.register(chatPlugin, options)`. All optional but `jwt` (unless the host registered `@fastify/jwt`). */
export interface ChatPluginOptions {
  /** Options for `@fastify/jwt` (at least `secret`); leave out to reuse the host's `@fastify/jwt`. */
  jwt?: FastifyJWTOptions
  /** Rules applied on every token verification. */
  verify?: TokenRules
  /** How long before a socket's token expires it gets `{"type":"tokenExpiring"}`, ms. Default 30000. */
  tokenExpiringLead?: number
  /** How long after `exp` an unrefreshed socket is closed with 4001, ms (at most 5000). Default 1000. */
  expiryGrace?: number
  /**
   * Origins allowed to open the socket (`Origin` header, exact match such as
   * `https://app.example.com`); any other is answered 403 before the upgrade. A request with no
   * `Origin` (not a browser) is allowed. Default: any origin. It matters when the token travels in
   * something the browser attaches by itself (a cookie); with a token the page sets explicitly
   * (query, subprotocol, ticket) a foreign page has no token to send.
   */
  allowedOrigins?: string[]
  /** The WebSocket route. Default `/chat`. */
  path?: string
  /** Prefix of the REST room endpoints. Default `/rooms`. */
  roomsPrefix?: string
  /** The room every connection joins on open; `false` for none. Default `'lobby'`. */
  defaultRoom?: string | false
  /** Largest accepted frame, in bytes; a larger one closes its socket with 1009. Default 65536. */
  maxPayload?: number
  /** Longest message `content`, in characters (UTF-16 code units). Default 4000. */
  maxMessageLength?: number
  /** Most rooms one connection may be in at once. Default 100. */
  maxRoomsPerConnection?: number
  /** Per-connection token bucket over every frame, or `false` for none. Default 20/s, burst 40, close after 100 refusals a minute. */
  rateLimit?: RateLimitOptions | false
  /** Ping period in ms; a peer that has not answered the previous ping is terminated. `0` disables. Default 30000. */
  heartbeatInterval?: number
  /**
   * Slow consumers: a socket whose unsent bytes stay over this for more than a second leaves its
   * rooms at once, is sent nothing more and is closed with 1013 `slow consumer` (cut 5 s later if
   * it does not read its close). Checked on every send. Default 1 MiB.
   */
  slowConsumerHighWaterMark?: number
  /** Unsent bytes that make a slow consumer at once, without the second's wait. Default 4 MiB. */
  maxBufferedAmount?: number
  /**
   * Presence in rooms. `by: 'user'` (default): `userJoined` when a user's first connection joins
   * a room, anywhere in the chat, and `userLeft` when its last one leaves (a user with a laptop and
   * a phone is one user); `by: 'connection'`: one of each per connection. `limit`: when they are
   * sent to the other members: `true` always, `false` never, or N: only while the room has at most
   * N users (N members with `by: 'connection'`), counted with the one who joins or leaves.
   * `batch`: at most one presence frame per room per `batch` ms (default 1000; `0` or `false`:
   * every change at once), so that a storm of joins (a deploy, a crash) costs each member one frame
   * a second, not one per joiner: a change in a room quiet for that long goes out at once, the
   * ones that follow until the window ends go out together as one `presenceDiff` frame. A bare `true`, `false` or number is the
   * `limit`. Default `{ by: 'user', limit: 100, batch: 1000 }`.
   */
  presence?: boolean | number | { by?: 'user' | 'connection', limit?: boolean | number, batch?: number | false }
  /**
   * Per-room message history, for resuming after a reconnect and for `GET /rooms/:room/messages`.
   * Each room keeps at least its last `size` messages younger than `ttl` ms and at most twice
   * that many; all rooms together hold at most `maxBytes` of frames (the oldest rooms' histories go
   * first). In cluster mode it lives in Redis. Defaults: 100, 600000 (10 minutes), 64 MiB.
   * `false` keeps nothing: messages still carry seq and epoch, but a resume recovers only when
   * nothing was missed.
   */
  history?: HistoryOptions | false
  /**
   * Who may join a room (sync or async). A refusal is `{"type":"error","code":"FORBIDDEN"}`; the
   * same rule guards the admin REST join (403), and reading a room over REST: its info, members
   * and history, and whether `GET /rooms` lists it (a user reads the rooms they may join; admins
   * read every room). Called for each room of a `GET /rooms` page. Default: anyone, anywhere.
   */
  canJoin?: (user: ChatUser, room: string) => boolean | Promise<boolean>
  /** Who may send to a room they are a member of (sync or async); a refusal is `FORBIDDEN`. Default: every member. */
  canSend?: (user: ChatUser, room: string) => boolean | Promise<boolean>
  /** Most open sockets one user (`sub`) may have on this process; the next upgrade is answered 429. Default 10. */
  maxConnectionsPerUser?: number
  /**
   * Most open sockets from one IP on this process (429 before the upgrade). Off by default:
   * behind a proxy every client shares one address unless Fastify's `trustProxy` is set, so that
   * `request.ip` is the client's. `0` is off.
   */
  maxConnectionsPerIp?: number
  /** Most upgrade attempts from one IP per minute on this process (429). Off by default (`0`); see maxConnectionsPerIp. */
  maxConnectAttemptsPerIp?: number
  /** Most rooms with members on this process; joining one more is `TOO_MANY_ROOMS`. Default 100000. */
  maxRoomsPerProcess?: number
  /** Most members of one room on this process; joining beyond is `ROOM_FULL`. Default 100000. */
  maxMembersPerRoom?: number
  /**
   * Prometheus metrics through prom-client (install it): `true` for prom-client's default registry
   * (which fastify-metrics serves on `/metrics`), or `{ registry, prefix }`. Default off.
   */
  metrics?: boolean | { registry?: unknown, prefix?: string }
  /**
   * Who is an admin: may use the changing REST endpoints, and edit or delete anyone's message.
   * `request` is the REST request (absent over the socket). Default: the token has `role: 'admin'`.
   */
  isAdmin?: (user: ChatUser, request?: FastifyRequest) => boolean | Promise<boolean>
  /**
   * Sees every message a client sends before anyone else does (server messages skip it): return
   * nothing to accept it, `{ content?, meta? }` to accept it changed, or `{ reject: 'reason' }` to
   * refuse it (the sender gets `REJECTED` with the reason; nothing is stored or delivered). May be
   * async. A hook that throws is `REJECTED` with a generic reason and logged; one slower than
   * `hookTimeout` is `UNAVAILABLE`. A sender's messages keep their order whatever each hook takes.
   */
  onMessage?: (ctx: MessageContext) => MessageVerdict | undefined | void | Promise<MessageVerdict | undefined | void>
  /** How long `onMessage` may take, ms. Default 2000. */
  hookTimeout?: number
  /**
   * How long a user counts as typing in a room after its last `typing: true`, ms (a message, a
   * leave or its last connection closing ends it sooner). Default 6000.
   */
  typingTtl?: number
  /** `typing` frames a connection may send per second, in a bucket of their own; past it they are dropped silently. Default 5. */
  typingRate?: number
  /**
   * Whether a room's other members get a `read` frame when a user's read marker moves (within the
   * `presence` limit; in direct conversations, always). The user's own other connections get it
   * either way, so that every device clears its badge. Default true.
   */
  readReceipts?: boolean
  /**
   * Load shedding, so that a reconnection storm degrades into waiting instead of a collapse: while
   * this process's event loop lags more than `maxEventLoopDelay` ms (default 100: what the open
   * connections' deliveries may be held up by a storm's handshakes) or more than
   * `maxPendingUpgrades` upgrades (default 1000) are being authenticated and admitted, a new
   * upgrade gets 503 `FST_CHAT_OVERLOADED` with `Retry-After: retryAfter` seconds (default 1)
   * before any token work; connections already open are not touched. `false`: off.
   */
  admission?: false | { maxEventLoopDelay?: number, maxPendingUpgrades?: number, retryAfter?: number }
  /** Most bytes of a message's `meta`, serialized as JSON. Default 2048. */
  maxMetaBytes?: number
  /** A TypeBox schema every message's `meta` must match. Default: any JSON object. */
  metaSchema?: TSchema
  /** Who may edit a message (default: its author, and admins). */
  canEdit?: (user: ChatUser, message: MessageInfo) => boolean | Promise<boolean>
  /**
   * Who may write a direct message to whom (`dm`): refusals are `FORBIDDEN`. Default: anyone to
   * anyone.
   */
  canMessage?: (from: ChatUser, to: string) => boolean | Promise<boolean>
  /**
   * How many new direct conversations a user may start a minute, across every process (writing in
   * one it has is not counted); past it, a `dm` that would start one is `RATE_LIMITED`. Default 20.
   */
  maxNewConversationsPerMinute?: number
  /**
   * Whether an admin may read a direct conversation over REST (`GET /rooms/:room/messages` and
   * `/members` of a `dm:` room; its two participants always may). Default: no.
   */
  canReadDirect?: (admin: ChatUser, room: string, participants: [string, string]) => boolean | Promise<boolean>
  /**
   * Who may see whose online status (`watch`, `GET /users/:userId/presence`, `app.chat.presence`
   * is the host's own and is not asked). Default: everyone may see everyone.
   */
  canSeePresence?: (viewer: ChatUser, userId: string) => boolean | Promise<boolean>
  /** Who may delete a message (default: its author, and admins). */
  canDelete?: (user: ChatUser, message: MessageInfo) => boolean | Promise<boolean>
  /**
   * Where messages are kept for good: `postgresStore(...)`. With a store, a message is delivered
   * and acknowledged only once committed there, and the store numbers each room's messages.
   * Default: none (the history is the adapter's hot window).
   */
  store?: StoreFactory
  /**
   * Where membership lives and how messages reach other processes: an adapter factory such as
   * `redisAdapter({ client })`. Default `memoryAdapter()`: in memory, one process.
   */
  adapter?: AdapterFactory
  /** Route prefix for both the socket route and the REST endpoints (Fastify's usual register option). */
  prefix?: string
  /**
   * For `@fastify/swagger`: `securityScheme` names the scheme (defined by the host in
   * `components.securitySchemes`, such as `{ type: 'http', scheme: 'bearer' }`) that every chat
   * route declares, so that the docs' "Try it out" sends the token. Default: none declared.
   */
  openapi?: { securityScheme?: string }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-chat: rooms, members, messages and connections, for the host's own code. */
    chat: ChatApi
  }
}

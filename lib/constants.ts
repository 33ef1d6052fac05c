/** WebSocket close codes the server sends. */
export const CloseCode = {
  /** Normal closure (the default of `app.chat.disconnect`). */
  NORMAL: 1000,
  /** The server is shutting down (`app.close()`). */
  GOING_AWAY: 1001,
  /** Policy violation: persistently rate limited, or too many requests waiting. */
  POLICY: 1008,
  /** A frame larger than `maxPayload` (sent by `ws` itself). */
  TOO_BIG: 1009,
  /** The server failed while handling this connection's frame. */
  INTERNAL_ERROR: 1011,
  /** A slow consumer: it did not read its frames. */
  SLOW_CONSUMER: 1013,
  /** The token expired and was not refreshed in time. */
  TOKEN_EXPIRED: 4001,
  /** The user was banned from the whole chat (`app.chat.ban`, `PUT /bans/:userId`). */
  BANNED: 4003
} as const

/** Codes of `{"type":"error"}` frames: what went wrong with one request. */
export const ErrorCode = {
  /** The text frame is not JSON. */
  BAD_JSON: 'BAD_JSON',
  /** JSON that fails the request schema: not an object, unknown action, bad room, content too long. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** Only members may send to (or leave) a room. */
  NOT_A_MEMBER: 'NOT_A_MEMBER',
  /** Joining would exceed `maxRoomsPerConnection`. */
  TOO_MANY_ROOMS: 'TOO_MANY_ROOMS',
  /** The server process already hosts `maxRoomsPerProcess` rooms: a room new to it cannot start there now. */
  SERVER_FULL: 'SERVER_FULL',
  /** Over the connection's token bucket: the frame was dropped. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A binary frame: the protocol is JSON text only. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** The backend (Redis) is unreachable: nothing was done; resend later with the same `ref`. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A refresh token that is invalid, expired, or for another user: nothing changed. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** `canJoin` or `canSend` refused. */
  FORBIDDEN: 'FORBIDDEN',
  /** The room has `maxMembersPerRoom` members on this process. */
  ROOM_FULL: 'ROOM_FULL',
  /**
   * The `ref` was used for a different message by this user in this room within `history.ttl`:
   * nothing was sent. Use a fresh ref (a UUID) per message.
   */
  REF_REUSED: 'REF_REUSED',
  /** The host's `onMessage` hook refused the message (its reason is the error's message): nothing was sent. */
  REJECTED: 'REJECTED',
  /** `edit` or `delete` of a message the room's history does not have. */
  NOT_FOUND: 'NOT_FOUND',
  /** The user is banned from the room (or the chat): the join was refused. */
  BANNED: 'BANNED',
  /** The user is muted in the room (or the chat): reading works, writing does not. */
  MUTED: 'MUTED',
  /** A `watch` past the 100 users a connection may watch: nothing changed. */
  TOO_MANY_WATCHED: 'TOO_MANY_WATCHED'
} as const
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

export type { LeaveReason } from './model.js'

/** Room names: 1 to 64 of these characters, nothing else (no spaces, no slashes). */
export const ROOM_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$'
export const ROOM_REGEXP = new RegExp(ROOM_PATTERN)

/** Longest `ref` string a client may attach to a request. */
export const MAX_REF_LENGTH = 64

/** The rate limiter closes a connection after this many refused frames within `VIOLATION_WINDOW_MS`. */
export const VIOLATION_WINDOW_MS = 60_000

/**
 * Frames a connection may have waiting while an earlier one of its requests is still being
 * handled (an async registry call). The rate limiter's burst keeps a client far below this;
 * it exists so that no client can grow a queue without bound.
 */
export const MAX_PENDING_FRAMES = 256

/** The window of `maxConnectAttemptsPerIp`, ms. */
export const ATTEMPT_WINDOW_MS = 60_000
/** Most IPs whose attempts are counted at once (the oldest windows go first). */
export const MAX_TRACKED_IPS = 100_000

/** How long a socket may stay over the slow-consumer high-water mark, ms. */
export const SLOW_CONSUMER_MS = 1000
/** How long a slow consumer has to read its close frame before it is cut, ms. */
export const SLOW_CONSUMER_GRACE_MS = 5000

/** On `app.close()`, how long sockets get to finish their closing handshake before they are cut. */
export const CLOSE_GRACE_MS = 2_000

/** `from` of a message the server sent (`app.chat.broadcast`, `POST /rooms/:room/messages`). */
export const SERVER_SENDER = 'server'

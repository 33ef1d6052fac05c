/**
 * Every error the plugin raises, in one place (as Fastify core's `lib/errors.js`).
 * Each carries a stable `code` and, where it reaches an HTTP client, a `statusCode`
 * that Fastify's default error handler turns into its usual error body.
 *
 * Wire-protocol error codes (`BAD_JSON`, `NOT_A_MEMBER`, ...) are not exceptions:
 * they are frames, listed in `constants.ts`.
 */
import createError from '@fastify/error'

// Registration
/** An option passed to `register` is invalid; the message names it. */
export const FST_CHAT_INVALID_OPTION = createError(
  'FST_CHAT_INVALID_OPTION',
  'Invalid fastify-chat option "%s": %s',
  500,
  TypeError
)

// Authentication and authorization (HTTP, before any upgrade)
/** The request carries no token: neither `Authorization: Bearer` nor `?token=`. */
export const FST_CHAT_NO_TOKEN = createError(
  'FST_CHAT_NO_TOKEN',
  'No token: send "Authorization: Bearer <jwt>" or the "token" query parameter',
  401
)
/** The token failed verification in a way `@fastify/jwt` does not map itself (a disallowed algorithm, ...). */
export const FST_CHAT_TOKEN_INVALID = createError(
  'FST_CHAT_TOKEN_INVALID',
  'Invalid token: %s',
  401
)
// The same codes, messages and status as `@fastify/jwt`'s own (a client cannot tell which verified
// its token): raised where the plugin verifies its own tokens without going through it.
/** The token's `exp` has passed. */
export const FST_JWT_AUTHORIZATION_TOKEN_EXPIRED = createError(
  'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED',
  'Authorization token expired',
  401
)
/** The token is malformed, its signature or key is wrong, or a claim is missing or not allowed. */
export const FST_JWT_AUTHORIZATION_TOKEN_INVALID = createError(
  'FST_JWT_AUTHORIZATION_TOKEN_INVALID',
  'Authorization token is invalid: %s',
  401
)
/** The token has no signature. */
export const FAST_JWT_MISSING_SIGNATURE = createError(
  'FAST_JWT_MISSING_SIGNATURE',
  'Unsigned authorization token',
  401
)
/** The token verified but has no usable `sub` claim to identify the user. */
export const FST_CHAT_TOKEN_NO_SUB = createError(
  'FST_CHAT_TOKEN_NO_SUB',
  'The token has no "sub" claim (a non-empty string naming the user)',
  401
)

/** A token whose `sub` is no usable user id (see user-id.ts): too long for this chat, control characters, reserved. */
export const FST_CHAT_TOKEN_BAD_SUB = createError(
  'FST_CHAT_TOKEN_BAD_SUB',
  'The token\'s "sub" is not a usable user id: it %s',
  401
)
/** A changing REST endpoint was called by a user that `isAdmin` refused. */
export const FST_CHAT_FORBIDDEN = createError(
  'FST_CHAT_FORBIDDEN',
  'This endpoint is for administrators only',
  403
)

// Registry (`app.chat` and the REST routes)
/** A room name does not match `^[A-Za-z0-9_.:-]{1,64}$`. */
export const FST_CHAT_INVALID_ROOM = createError(
  'FST_CHAT_INVALID_ROOM',
  'Invalid room name %s: use 1 to 64 of A-Z a-z 0-9 _ . : -',
  400
)
/** Message content is not a string of 1 to `maxMessageLength` characters. */
export const FST_CHAT_INVALID_CONTENT = createError(
  'FST_CHAT_INVALID_CONTENT',
  'Message content must be a string of 1 to %d characters',
  400
)
/** A server message's `meta` is not a JSON object. */
export const FST_CHAT_INVALID_META = createError(
  'FST_CHAT_INVALID_META',
  'Invalid meta: %s',
  400
)
/** A ban or mute with a bad user id, room, ttl or reason (`app.chat.ban`, `mute`, ...). */
export const FST_CHAT_INVALID_RESTRICTION = createError(
  'FST_CHAT_INVALID_RESTRICTION',
  'Invalid %s: %s',
  400
)
/** An argument of an `app.chat` call about people (a user id, a seq) that is not one. */
export const FST_CHAT_INVALID_ARGUMENT = createError(
  'FST_CHAT_INVALID_ARGUMENT',
  'Invalid %s: %s',
  400
)
/** A close code that a server may not send (allowed: 1000, 1001, 1008, 1011, 3000-4999). */
export const FST_CHAT_INVALID_CLOSE_CODE = createError(
  'FST_CHAT_INVALID_CLOSE_CODE',
  'Invalid close code %s: use 1000, 1001, 1008, 1011 or 3000-4999',
  400
)
/** The room has no members (rooms exist only while they have members). */
export const FST_CHAT_ROOM_NOT_FOUND = createError(
  'FST_CHAT_ROOM_NOT_FOUND',
  'Room %s has no members',
  404
)
/** No connected client has this id. */
export const FST_CHAT_CLIENT_NOT_FOUND = createError(
  'FST_CHAT_CLIENT_NOT_FOUND',
  'No connected client %s',
  404
)
/** The client is not a member of the room. */
export const FST_CHAT_NOT_A_MEMBER = createError(
  'FST_CHAT_NOT_A_MEMBER',
  'Client %s is not a member of room %s',
  404
)
/** Joining would put the client in more rooms than `maxRoomsPerConnection`. */
export const FST_CHAT_TOO_MANY_ROOMS = createError(
  'FST_CHAT_TOO_MANY_ROOMS',
  'Client %s is already in %d rooms, the most a connection may be in (maxRoomsPerConnection)',
  409
)
/** The chat is shutting down and takes no new work. */
export const FST_CHAT_CLOSING = createError(
  'FST_CHAT_CLOSING',
  'The chat server is shutting down',
  503
)
/** A close reason longer than the 123 bytes a close frame can carry. */
export const FST_CHAT_INVALID_CLOSE_REASON = createError(
  'FST_CHAT_INVALID_CLOSE_REASON',
  'A close reason must be a string of at most 123 bytes in UTF-8',
  400
)
/** The backing store (Redis) cannot be reached: retry later. */
export const FST_CHAT_UNAVAILABLE = createError(
  'FST_CHAT_UNAVAILABLE',
  'The chat backend is unavailable: %s',
  503
)
/** The process holding a client did not answer in time. */
export const FST_CHAT_TIMEOUT = createError(
  'FST_CHAT_TIMEOUT',
  'The process holding client %s did not answer in time',
  504
)
/** A listing's `cursor` or `limit` is not one it takes. */
export const FST_CHAT_INVALID_PAGE = createError(
  'FST_CHAT_INVALID_PAGE',
  'A page takes a cursor from the previous page and a limit from 1 to %d',
  400
)
/** A history query with a bad `after`, `before` or `limit`. */
export const FST_CHAT_INVALID_HISTORY_QUERY = createError(
  'FST_CHAT_INVALID_HISTORY_QUERY',
  'History queries take after (>= 0) or before (>= 1), not both, and limit from 1 to %d',
  400
)
/** `bearer.<jwt>` offered as a subprotocol without `chat.v1` beside it. */
export const FST_CHAT_BAD_SUBPROTOCOL = createError(
  'FST_CHAT_BAD_SUBPROTOCOL',
  'A bearer.<jwt> subprotocol must be offered with "chat.v1"',
  400
)
/** An upgrade from an Origin not in `allowedOrigins`. */
export const FST_CHAT_ORIGIN_FORBIDDEN = createError(
  'FST_CHAT_ORIGIN_FORBIDDEN',
  'This Origin may not open the chat socket',
  403
)
/** `canJoin` refused a join (by an admin over REST or `app.chat.join`), or a member listing. */
export const FST_CHAT_JOIN_FORBIDDEN = createError(
  'FST_CHAT_JOIN_FORBIDDEN',
  'canJoin refused room %s to this user',
  403
)
/** The user is banned: from the whole chat (an upgrade), or from the room (a join by an admin or `app.chat.join`). */
export const FST_CHAT_BANNED = createError(
  'FST_CHAT_BANNED',
  'This user is banned %s',
  403
)
/** A direct conversation read over REST by someone else than its two participants (and no `canReadDirect`). */
export const FST_CHAT_DIRECT_FORBIDDEN = createError(
  'FST_CHAT_DIRECT_FORBIDDEN',
  'Room %s is a direct conversation: only its two participants write in it (app.chat.sendToUser writes to a user\'s own)',
  403
)
/** `canSeePresence` refused a user's presence to the viewer. */
export const FST_CHAT_PRESENCE_FORBIDDEN = createError(
  'FST_CHAT_PRESENCE_FORBIDDEN',
  'canSeePresence refused the presence of user %s to this user',
  403
)
/** `DELETE` of a ban or mute that is not in force. */
export const FST_CHAT_NO_RESTRICTION = createError(
  'FST_CHAT_NO_RESTRICTION',
  'No %s of user %s in force%s',
  404
)
/** The user already has `maxConnectionsPerUser` open sockets on this process. */
export const FST_CHAT_TOO_MANY_CONNECTIONS = createError(
  'FST_CHAT_TOO_MANY_CONNECTIONS',
  'Too many open chat connections for this user',
  429
)
/** A ticket that is unknown, already used, or expired. */
export const FST_CHAT_BAD_TICKET = createError(
  'FST_CHAT_BAD_TICKET',
  'Invalid ticket: unknown, already used, or expired',
  401
)
/** Minting a ticket needs the token in an Authorization: Bearer header. */
export const FST_CHAT_TICKET_NEEDS_BEARER = createError(
  'FST_CHAT_TICKET_NEEDS_BEARER',
  'Tickets are minted with an "Authorization: Bearer <jwt>" header',
  401
)
/** The process already has `maxRoomsPerProcess` rooms with members: a room new to it cannot start here. */
export const FST_CHAT_SERVER_FULL = createError(
  'FST_CHAT_SERVER_FULL',
  'This process already has %d rooms with members, the most allowed (maxRoomsPerProcess): room %s cannot start here',
  503
)
/** The room has `maxMembersPerRoom` members on this process. */
export const FST_CHAT_ROOM_FULL = createError(
  'FST_CHAT_ROOM_FULL',
  'Room %s is full',
  409
)
/** The process is overloaded (its event loop lags, or upgrades queue up): come back after `Retry-After`. */
export const FST_CHAT_OVERLOADED = createError(
  'FST_CHAT_OVERLOADED',
  'The chat server is busy: retry after %d s',
  503
)
/** Too many connections, or connection attempts, from one IP. */
export const FST_CHAT_TOO_MANY_FROM_IP = createError(
  'FST_CHAT_TOO_MANY_FROM_IP',
  'Too many chat connections from this address',
  429
)

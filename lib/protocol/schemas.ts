/**
 * The wire protocol: TypeBox schemas of every frame, client to server and server to client.
 * Client schemas are compiled (TypeCompiler) by the codec; server schemas document the frames
 * the server builds and give them their static types.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { MAX_REF_LENGTH, ROOM_PATTERN } from '../constants.js'
import { MAX_USER_ID, userIdSchema } from '../user-id.js'

export const Ref = Type.Union([
  Type.String({ maxLength: MAX_REF_LENGTH }),
  Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER })
], { description: 'Echoed by the direct reply: a string of at most 64 characters, or an integer' })
export type Ref = Static<typeof Ref>

export const RoomName = Type.String({ pattern: ROOM_PATTERN, description: '1 to 64 of A-Z a-z 0-9 _ . : -' })

function content (maxMessageLength: number) {
  return Type.String({ minLength: 1, maxLength: maxMessageLength })
}

/**
 * What a message carries beside its text (replies-to, mentions, attachment references: the host
 * decides): a JSON object, at most `maxMetaBytes` serialized, checked against the host's
 * `metaSchema` when it gives one.
 */
export const Meta = Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON object (not an array or a scalar)' })
export type Meta = Static<typeof Meta>

/** A user id (a token's sub), at its longest (see user-id.ts: a router may make it shorter). */
export const UserId = userIdSchema(MAX_USER_ID)

/** A message's id, as the server gave it. */
export const MessageId = Type.String({ minLength: 1, maxLength: 64 })

/** Client-to-server requests, keyed by `action` (`''` is the seed's plain `{"content"}` message). */
export function clientSchemas (maxMessageLength: number, maxUserId = MAX_USER_ID) {
  const UserId = userIdSchema(maxUserId)
  return {
    join: Type.Object({
      action: Type.Literal('join'),
      room: RoomName,
      /** Resume: replay what came after this seq of this epoch (from a `joined` or a `message`). */
      since: Type.Optional(Type.Object({
        seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
        epoch: Type.String({ minLength: 1, maxLength: 64 })
      }, { additionalProperties: false })),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    leave: Type.Object({
      action: Type.Literal('leave'),
      room: RoomName,
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    message: Type.Object({
      action: Type.Literal('message'),
      room: RoomName,
      content: content(maxMessageLength),
      meta: Type.Optional(Meta),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** A direct message to a user: to every connection of theirs and the sender's other ones. */
    dm: Type.Object({
      action: Type.Literal('dm'),
      to: UserId,
      content: content(maxMessageLength),
      meta: Type.Optional(Meta),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** A new text (and meta) for a message: its author's, an admin's, or as `canEdit` says. */
    edit: Type.Object({
      action: Type.Literal('edit'),
      room: RoomName,
      id: MessageId,
      content: content(maxMessageLength),
      meta: Type.Optional(Meta),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** A message deleted: its author, an admin, or as `canDelete` says. */
    delete: Type.Object({
      action: Type.Literal('delete'),
      room: RoomName,
      id: MessageId,
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** Whether the user is typing in a room (ephemeral: no seq, no ack). */
    typing: Type.Object({
      action: Type.Literal('typing'),
      room: RoomName,
      typing: Type.Boolean(),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** The user has read the room up to `seq`: its read marker moves there (never back). */
    read: Type.Object({
      action: Type.Literal('read'),
      room: RoomName,
      seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** Start hearing of these users' presence (at most 100 watched per connection). */
    watch: Type.Object({
      action: Type.Literal('watch'),
      users: Type.Array(UserId, { minItems: 1, maxItems: 100 }),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    unwatch: Type.Object({
      action: Type.Literal('unwatch'),
      users: Type.Array(UserId, { minItems: 1, maxItems: 100 }),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** A fresh token for the same user, before the current one expires. */
    refresh: Type.Object({
      action: Type.Literal('refresh'),
      token: Type.String({ minLength: 1, maxLength: 8192 }),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false }),
    /** The seed's plain client: a message to the default room. */
    plain: Type.Object({
      content: content(maxMessageLength),
      ref: Type.Optional(Ref)
    }, { additionalProperties: false })
  } satisfies Record<string, TSchema>
}

type ClientSchemas = ReturnType<typeof clientSchemas>
export type JoinRequest = Static<ClientSchemas['join']>
export type LeaveRequest = Static<ClientSchemas['leave']>
export type MessageRequest = Static<ClientSchemas['message']>
export type PlainMessageRequest = Static<ClientSchemas['plain']>
export type RefreshRequest = Static<ClientSchemas['refresh']>
export type EditRequest = Static<ClientSchemas['edit']>
export type DeleteRequest = Static<ClientSchemas['delete']>
export type DirectRequest = Static<ClientSchemas['dm']>
export type TypingRequest = Static<ClientSchemas['typing']>
export type WatchRequest = Static<ClientSchemas['watch']>
export type ReadRequest = Static<ClientSchemas['read']>
export type UnwatchRequest = Static<ClientSchemas['unwatch']>
export type ClientRequest = JoinRequest | LeaveRequest | MessageRequest | DirectRequest | TypingRequest | ReadRequest | EditRequest | DeleteRequest | WatchRequest | UnwatchRequest | RefreshRequest | PlainMessageRequest

const Timestamp = Type.Integer({ description: 'ms since the epoch' })
const LeaveReasonSchema = Type.Union([
  Type.Literal('left'), Type.Literal('closed'), Type.Literal('removed'), Type.Literal('timeout'), Type.Literal('banned')
])

/** Server-to-client frames. */
export const ServerFrames = {
  welcome: Type.Object({
    type: Type.Literal('welcome'),
    message: Type.String(),
    clientId: Type.String(),
    userId: Type.String(),
    defaultRoom: Type.Optional(Type.String({ description: 'the room the server is joining this connection to (its joined follows); absent when there is none' }))
  }),
  joined: Type.Object({
    type: Type.Literal('joined'),
    room: RoomName,
    members: Type.Integer({ description: 'connections in the room, across every process' }),
    users: Type.Integer({ description: 'distinct users in the room (a user with two tabs is one)' }),
    /** The room's newest seq (0 if none): `since: {seq, epoch}` resumes from this join. */
    seq: Type.Integer(),
    epoch: Type.String(),
    typing: Type.Optional(Type.Array(Type.Object({ userId: Type.String(), name: Type.Optional(Type.String()) }), { description: 'who is typing in the room now (when anyone is)' })),
    lastRead: Type.Integer({ description: 'the user\'s read marker in the room (0: none)' }),
    unread: Type.Union([Type.Integer(), Type.Literal('1000+')], { description: 'messages after lastRead sent by others (not deleted); above 1,000: "1000+"' }),
    /** Only when the join had `since`: whether every missed message follows. */
    recovered: Type.Optional(Type.Boolean()),
    ref: Type.Optional(Ref)
  }),
  userJoined: Type.Object({
    type: Type.Literal('userJoined'),
    room: RoomName,
    clientId: Type.String({ description: 'the connection that joined' }),
    userId: Type.String(),
    name: Type.Optional(Type.String({ description: 'the user\'s display name (presence by user)' })),
    connections: Type.Optional(Type.Integer({ description: 'the user\'s connections in the room now (presence by user: 1)' }))
  }),
  left: Type.Object({
    type: Type.Literal('left'),
    room: RoomName,
    members: Type.Integer(),
    reason: Type.Optional(Type.Union([Type.Literal('removed'), Type.Literal('banned')])),
    ref: Type.Optional(Ref)
  }),
  userLeft: Type.Object({
    type: Type.Literal('userLeft'),
    room: RoomName,
    clientId: Type.String({ description: 'the connection that left (presence by user: the user\'s last)' }),
    userId: Type.String(),
    name: Type.Optional(Type.String({ description: 'the user\'s display name (presence by user)' })),
    connections: Type.Optional(Type.Integer({ description: 'the user\'s connections left in the room (presence by user: 0)' })),
    reason: LeaveReasonSchema
  }),
  presenceDiff: Type.Object({
    type: Type.Literal('presenceDiff'),
    room: RoomName,
    changes: Type.Array(Type.Union([
      Type.Object({ type: Type.Literal('userJoined'), clientId: Type.String(), userId: Type.String(), name: Type.Optional(Type.String()), connections: Type.Optional(Type.Integer()) }),
      Type.Object({ type: Type.Literal('userLeft'), clientId: Type.String(), userId: Type.String(), name: Type.Optional(Type.String()), connections: Type.Optional(Type.Integer()), reason: LeaveReasonSchema })
    ]), { description: 'the room\'s userJoined and userLeft since the last presence frame, in order, each without its room' })
  }),
  message: Type.Object({
    type: Type.Literal('message'),
    room: RoomName,
    id: Type.String(),
    seq: Type.Integer({ description: 'per room: 1, 2, 3, ... with no gaps within an epoch' }),
    epoch: Type.String({ description: 'changes when the room\'s history is lost' }),
    from: Type.String({ description: 'the sender\'s clientId, or "server"' }),
    userId: Type.String({ description: 'the sender\'s user id, or "server"' }),
    name: Type.Optional(Type.String({ description: 'the sender\'s display name: its token\'s name claim, when it has one' })),
    to: Type.Optional(Type.String({ description: 'a direct message: its recipient\'s user id' })),
    content: Type.String({ description: 'empty in a deleted message\'s tombstone' }),
    meta: Type.Optional(Meta),
    timestamp: Timestamp,
    editedAt: Type.Optional(Type.Integer({ description: 'in history: when it was last edited, ms' })),
    deleted: Type.Optional(Type.Literal(true, { description: 'in history: a deleted message\'s tombstone (no content, no meta)' })),
    deletedAt: Type.Optional(Type.Integer({ description: 'with deleted: when, ms' }))
  }),
  edited: Type.Object({
    type: Type.Literal('edited'),
    room: RoomName,
    id: Type.String({ description: 'the message edited' }),
    seq: Type.Integer({ description: 'the edit\'s own seq in the room' }),
    epoch: Type.String(),
    userId: Type.String({ description: 'who edited it' }),
    content: Type.String(),
    meta: Type.Optional(Meta),
    editedAt: Timestamp
  }),
  deleted: Type.Object({
    type: Type.Literal('deleted'),
    room: RoomName,
    id: Type.String({ description: 'the message deleted' }),
    seq: Type.Integer({ description: 'the deletion\'s own seq in the room' }),
    epoch: Type.String(),
    userId: Type.String({ description: 'who deleted it' }),
    deletedAt: Timestamp
  }),
  ack: Type.Object({
    type: Type.Literal('ack'),
    ref: Ref,
    id: Type.String(),
    seq: Type.Integer()
  }),
  tokenExpiring: Type.Object({
    type: Type.Literal('tokenExpiring'),
    in: Type.Integer({ description: 'ms until the token expires' })
  }),
  typing: Type.Object({
    type: Type.Literal('typing'),
    room: RoomName,
    users: Type.Array(Type.Object({ userId: Type.String(), name: Type.Optional(Type.String()) }), { description: 'everyone typing in the room now' })
  }),
  read: Type.Object({
    type: Type.Literal('read'),
    room: RoomName,
    userId: Type.String({ description: 'whose marker moved (yours: another of your connections, or this one when it gave a ref)' }),
    seq: Type.Integer({ description: 'the read marker now' }),
    ref: Type.Optional(Ref)
  }),
  presence: Type.Object({
    type: Type.Literal('presence'),
    userId: Type.String(),
    online: Type.Boolean(),
    lastSeen: Type.Optional(Type.Integer({ description: 'offline: when its last connection closed, ms (when known)' }))
  }),
  watching: Type.Object({
    type: Type.Literal('watching'),
    users: Type.Array(Type.String(), { description: 'every user this connection now watches' }),
    ref: Type.Optional(Ref)
  }),
  refreshed: Type.Object({
    type: Type.Literal('refreshed'),
    exp: Type.Integer({ description: "the new token's exp, seconds since the epoch" }),
    ref: Type.Optional(Ref)
  }),
  error: Type.Object({
    type: Type.Literal('error'),
    code: Type.Union([
      Type.Literal('BAD_JSON'), Type.Literal('BAD_REQUEST'), Type.Literal('NOT_A_MEMBER'),
      Type.Literal('TOO_MANY_ROOMS'), Type.Literal('SERVER_FULL'), Type.Literal('RATE_LIMITED'), Type.Literal('UNSUPPORTED'),
      Type.Literal('UNAVAILABLE'), Type.Literal('UNAUTHORIZED'), Type.Literal('FORBIDDEN'), Type.Literal('ROOM_FULL'),
      Type.Literal('REF_REUSED'), Type.Literal('REJECTED'), Type.Literal('NOT_FOUND'),
      Type.Literal('BANNED'), Type.Literal('MUTED'), Type.Literal('TOO_MANY_WATCHED')
    ]),
    message: Type.String(),
    ref: Type.Optional(Ref),
    retryAfter: Type.Optional(Type.Integer({ minimum: 1, description: 'RATE_LIMITED by the frame rate: ms until a frame is taken again (the same frame may be sent again then)' }))
  })
}

export type WelcomeFrame = Static<typeof ServerFrames.welcome>
export type JoinedFrame = Static<typeof ServerFrames.joined>
export type UserJoinedFrame = Static<typeof ServerFrames.userJoined>
export type LeftFrame = Static<typeof ServerFrames.left>
export type UserLeftFrame = Static<typeof ServerFrames.userLeft>
export type PresenceDiffFrame = Static<typeof ServerFrames.presenceDiff>
export type PresenceChange = PresenceDiffFrame['changes'][number]
export type MessageFrame = Static<typeof ServerFrames.message>
export type EditedFrame = Static<typeof ServerFrames.edited>
export type DeletedFrame = Static<typeof ServerFrames.deleted>
export type AckFrame = Static<typeof ServerFrames.ack>
export type ErrorFrame = Static<typeof ServerFrames.error>
export type TokenExpiringFrame = Static<typeof ServerFrames.tokenExpiring>
export type RefreshedFrame = Static<typeof ServerFrames.refreshed>
export type PresenceFrame = Static<typeof ServerFrames.presence>
export type TypingFrame = Static<typeof ServerFrames.typing>
export type WatchingFrame = Static<typeof ServerFrames.watching>
export type ReadFrame = Static<typeof ServerFrames.read>
export type ServerFrame =
  | WelcomeFrame | JoinedFrame | UserJoinedFrame | LeftFrame | UserLeftFrame | PresenceDiffFrame
  | MessageFrame | EditedFrame | DeletedFrame | AckFrame | ErrorFrame | TokenExpiringFrame | RefreshedFrame
  | PresenceFrame | WatchingFrame | TypingFrame | ReadFrame

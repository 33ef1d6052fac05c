/**
 * The admin REST endpoints for bans and mutes: a room's (under `roomsPrefix`) and the whole
 * chat's (`/bans/:userId`). Each calls `app.chat`, which keeps the restriction cluster-wide and
 * tells every connection of the user.
 */
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { adminOnly } from './access.js'
import { FST_CHAT_NO_RESTRICTION } from '../errors.js'
import type { RestrictionKind } from '../model.js'
import { RoomName } from '../protocol/schemas.js'
import { userIdSchema } from '../user-id.js'
import { ERROR, routeDocs, typeboxValidator, type RoomsRouteOptions } from './rooms.js'

const RoomParams = Type.Object({ room: RoomName })
const RestrictBody = Type.Object({
  ttl: Type.Optional(Type.Integer({ minimum: 1, description: 'how long it lasts, ms (default: until lifted)' })),
  reason: Type.Optional(Type.String({ maxLength: 500 }))
}, { additionalProperties: false })
const RestrictionSchema = Type.Object({
  kind: Type.Union([Type.Literal('ban'), Type.Literal('mute')]),
  userId: Type.String(),
  room: Type.Optional(Type.String()),
  until: Type.Optional(Type.Integer({ description: 'when it ends by itself, ms since the epoch' })),
  reason: Type.Optional(Type.String()),
  at: Type.Integer({ description: 'when it was made, ms' })
})

export async function moderationRoutes (fastify: FastifyInstance, { opts, chat }: RoomsRouteOptions): Promise<void> {
  const UserId = userIdSchema(opts.userIdMax, 'the user id (a token\'s sub)')
  const RoomUserParams = Type.Object({ room: RoomName, userId: UserId })
  const UserParams = Type.Object({ userId: UserId })
  fastify.setValidatorCompiler(typeboxValidator)
  const doc = routeDocs(opts.openapiSecurityScheme)
  const preHandler = adminOnly(opts.isAdmin)
  const errors = { 400: ERROR, 401: ERROR, 403: ERROR }
  const rooms = opts.roomsPrefix === '/' ? '' : opts.roomsPrefix
  // A PUT may come without a body: no ttl, no reason.
  fastify.addHook('preValidation', async (request) => {
    if (request.method === 'PUT' && (request.body === undefined || request.body === null)) request.body = {}
  })

  for (const [kind, plural] of [['ban', 'bans'], ['mute', 'mutes']] as Array<[RestrictionKind, string]>) {
    const what = kind === 'ban' ? 'Ban a user from a room' : 'Mute a user in a room'
    fastify.put<{ Params: Static<typeof RoomUserParams>, Body: Static<typeof RestrictBody> }>(`${rooms}/:room/${plural}/:userId`, {
      preHandler,
      schema: doc(`${what} (admin)`, { params: RoomUserParams, body: RestrictBody, response: { 200: RestrictionSchema, ...errors } })
    }, async (request) => {
      const { room, userId } = request.params
      const { ttl, reason } = request.body ?? {}
      return await chat[kind](userId, { room, ttl, reason })
    })
    fastify.delete<{ Params: Static<typeof RoomUserParams> }>(`${rooms}/:room/${plural}/:userId`, {
      preHandler,
      schema: doc(`Lift a user's ${kind} in a room (admin)`, { params: RoomUserParams, response: { 204: Type.Null(), 404: ERROR, ...errors } })
    }, async (request, reply) => {
      const { room, userId } = request.params
      if (!await chat[kind === 'ban' ? 'unban' : 'unmute'](userId, { room })) throw new FST_CHAT_NO_RESTRICTION(kind, JSON.stringify(userId), ` in room ${JSON.stringify(room)}`)
      return reply.code(204).send()
    })
    fastify.get<{ Params: Static<typeof RoomParams> }>(`${rooms}/:room/${plural}`, {
      preHandler,
      schema: doc(`A room's ${plural} in force (admin)`, {
        params: RoomParams,
        response: { 200: Type.Object({ room: Type.String(), [plural]: Type.Array(RestrictionSchema) }), ...errors }
      })
    }, async (request) => {
      const { room } = request.params
      return { room, [plural]: await chat[plural as 'bans' | 'mutes'](room) }
    })
    fastify.put<{ Params: Static<typeof UserParams>, Body: Static<typeof RestrictBody> }>(`/${plural}/:userId`, {
      preHandler,
      schema: doc(`${kind === 'ban' ? 'Ban a user from the whole chat' : 'Mute a user everywhere'} (admin)`, { params: UserParams, body: RestrictBody, response: { 200: RestrictionSchema, ...errors } })
    }, async (request) => {
      const { ttl, reason } = request.body ?? {}
      return await chat[kind](request.params.userId, { ttl, reason })
    })
    fastify.delete<{ Params: Static<typeof UserParams> }>(`/${plural}/:userId`, {
      preHandler,
      schema: doc(`Lift a user's chat-wide ${kind} (admin)`, { params: UserParams, response: { 204: Type.Null(), 404: ERROR, ...errors } })
    }, async (request, reply) => {
      const { userId } = request.params
      if (!await chat[kind === 'ban' ? 'unban' : 'unmute'](userId)) throw new FST_CHAT_NO_RESTRICTION(kind, JSON.stringify(userId), '')
      return reply.code(204).send()
    })
  }
}

/** The REST endpoints about people: a user's online status, my conversations, my unread counts. */
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { chatUser } from '../auth.js'
import { roomBan } from './access.js'
import { FST_CHAT_PRESENCE_FORBIDDEN } from '../errors.js'
import { userIdSchema } from '../user-id.js'
import { ERROR, routeDocs, typeboxValidator, type RoomsRouteOptions } from './rooms.js'

const PresenceBody = Type.Object({
  userId: Type.String(),
  online: Type.Boolean(),
  connections: Type.Integer({ description: 'open connections, on every process' }),
  lastSeen: Type.Optional(Type.Integer({ description: 'offline: when its last connection closed, ms (kept for the adapter\'s presenceTtl)' }))
})

const Conversations = Type.Object({
  conversations: Type.Array(Type.Object({
    room: Type.String({ description: 'the conversation\'s room: join it with since to resume, page its history' }),
    with: Type.String({ description: 'the other participant (server: the user\'s server conversation)' }),
    seq: Type.Integer({ description: 'the room\'s newest seq' })
  }))
})

const Unread = Type.Object({
  rooms: Type.Array(Type.Object({
    room: Type.String(),
    seq: Type.Integer({ description: 'the room\'s newest seq' }),
    lastRead: Type.Integer({ description: 'the caller\'s read marker (0: none)' }),
    unread: Type.Union([Type.Integer(), Type.Literal('1000+')], { description: 'messages after lastRead that others sent (not deleted); above 1,000: "1000+"' })
  }))
})

export async function usersRoutes (fastify: FastifyInstance, { opts, chat }: RoomsRouteOptions): Promise<void> {
  const UserParams = Type.Object({ userId: userIdSchema(opts.userIdMax) })
  fastify.setValidatorCompiler(typeboxValidator)
  const doc = routeDocs(opts.openapiSecurityScheme)
  fastify.get('/users/me/conversations', {
    schema: doc('The caller\'s direct conversations, with each one\'s newest seq', { response: { 200: Conversations, 401: ERROR } })
  }, async (request) => ({ conversations: (await chat.conversations(chatUser(request).sub)).filter((c) => roomBan(request, c.room) === undefined) }))

  fastify.get('/users/me/unread', {
    schema: doc('Every room the caller has a read marker in (set on its first join) and every direct conversation it has, but those it is banned from: newest seq, marker and unread count', { response: { 200: Unread, 401: ERROR } })
  }, async (request) => ({ rooms: (await chat.unread(chatUser(request).sub)).filter((r) => roomBan(request, r.room) === undefined) }))

  fastify.get<{ Params: Static<typeof UserParams> }>('/users/:userId/presence', {
    schema: doc('Whether a user is online anywhere in the chat, and when it was last seen', {
      params: UserParams,
      response: { 200: PresenceBody, 400: ERROR, 401: ERROR, 403: ERROR }
    })
  }, async (request) => {
    const { userId } = request.params
    const canSee = opts.canSeePresence
    if (canSee !== undefined && await canSee(chatUser(request), userId) !== true) throw new FST_CHAT_PRESENCE_FORBIDDEN(JSON.stringify(userId).slice(0, 80))
    return await chat.presence(userId)
  })
}

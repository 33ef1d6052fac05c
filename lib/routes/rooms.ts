/** The REST room endpoints: HTTP in, `app.chat` calls, JSON out. Every route has its schemas. */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js'
import { isDirect } from '../core/direct.js'
import { FST_CHAT_DIRECT_FORBIDDEN, FST_CHAT_NOT_A_MEMBER, FST_CHAT_ROOM_NOT_FOUND } from '../errors.js'
import type { ResolvedOptions } from '../options.js'
import { MAX_CURSOR, MAX_PAGE } from '../page-cursor.js'
import { Meta, RoomName } from '../protocol/schemas.js'
import { MAX_HISTORY_PAGE } from '../chat-api.js'
import type { ChatApi } from '../types.js'
import { adminOnly, RoomAccess } from './access.js'

export const RoomParams = Type.Object({ room: RoomName })
export const MemberParams = Type.Object({
  room: RoomName,
  clientId: Type.String({ minLength: 1, maxLength: 128 })
})
export const RoomInfoSchema = Type.Object({
  name: Type.String(),
  members: Type.Integer({ minimum: 1 })
})
const NextCursor = Type.Optional(Type.String({ description: 'pass as ?cursor= for the next page; absent on the last page' }))
export const RoomList = Type.Object({ rooms: Type.Array(RoomInfoSchema), cursor: NextCursor })
export const PageQuery = Type.Object({
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CURSOR, description: 'the cursor the previous page of this listing gave' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, description: 'default 100' }))
}, { additionalProperties: false })
export const MemberList = Type.Object({
  room: Type.String(),
  cursor: NextCursor,
  members: Type.Array(Type.Object({
    clientId: Type.String(),
    userId: Type.String(),
    name: Type.Optional(Type.String({ description: 'the display name of the user' })),
    joinedAt: Type.Integer({ description: 'ms since the epoch' })
  })),
  users: Type.Array(Type.Object({
    userId: Type.String(),
    name: Type.Optional(Type.String()),
    connections: Type.Integer({ description: 'the user\'s connections in the room, across every process' }),
    joinedAt: Type.Integer({ description: 'when its first connection on this page joined, ms' })
  }), { description: 'the users of this page\'s members, each once' })
})
export const MessageBody = (maxMessageLength: number) => Type.Object({
  content: Type.String({ minLength: 1, maxLength: maxMessageLength }),
  meta: Type.Optional(Meta)
}, { additionalProperties: false })
export const MessageAccepted = Type.Object({ id: Type.String(), seq: Type.Integer() })
export const HistoryQuery = (size: number) => Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: size }))
}, { additionalProperties: false })
export const HistoryBody = Type.Object({
  room: Type.String(),
  epoch: Type.String(),
  messages: Type.Array(Type.Record(Type.String(), Type.Unknown()))
})

export const ERROR = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Optional(Type.String()),
  error: Type.String(),
  message: Type.String()
})

/**
 * OpenAPI words for the chat's routes (`@fastify/swagger` reads them; Fastify ignores them), with
 * the host's security scheme when it named one (`openapi.securityScheme`), so that "Try it out"
 * sends the token.
 */
export function routeDocs (securityScheme: string | undefined) {
  const security = securityScheme === undefined ? {} : { security: [{ [securityScheme]: [] }] }
  return function doc<T extends object> (summary: string, schema: T): T {
    return { summary, tags: ['chat'], ...security, ...schema }
  }
}

export interface RoomsRouteOptions {
  opts: ResolvedOptions
  chat: ChatApi
}

/** A whole number as a query string writes it: no sign but minus, no leading zeros, no fraction or exponent. */
const INTEGER_TEXT = /^(0|-?[1-9][0-9]{0,15})$/

/**
 * A query string's integers as numbers ("5" -> 5), and nothing else: "1.9", "1e3", " 5" or "0x10"
 * stay strings, which the schema then refuses (TypeBox's own conversion reads "1.9" as 1).
 */
function queryIntegers (schema: TSchema, input: unknown): unknown {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties
  if (properties === undefined || input === null || typeof input !== 'object') return input
  const out: Record<string, unknown> = { ...input }
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && Object.hasOwn(properties, key) && properties[key].type === 'integer' && INTEGER_TEXT.test(value)) out[key] = Number(value)
  }
  return out
}

/**
 * Validates with TypeBox's compiler instead of the host's Ajv, whose defaults (type coercion,
 * removal of unknown properties) would turn `{"content":1}` into `"1"` and accept anything.
 */
export function typeboxValidator ({ schema, httpPart }: FastifyRouteSchemaDef<TSchema>) {
  const check = TypeCompiler.Compile(schema)
  // A query string arrives as strings: its integers are read there and nowhere else.
  const convert = httpPart === 'querystring'
  return (input: unknown) => {
    const data = convert ? queryIntegers(schema, input) : input
    if (check.Check(data)) return { value: data }
    const first = check.Errors(data).First()
    const where = first === undefined || first.path === '' ? '' : first.path
    return { error: new Error(`${httpPart ?? 'request'}${where} ${first?.message ?? 'is invalid'}`) }
  }
}

export async function roomsRoutes (fastify: FastifyInstance, { opts, chat }: RoomsRouteOptions): Promise<void> {
  const access = new RoomAccess(opts, chat)
  fastify.setValidatorCompiler(typeboxValidator)
  const doc = routeDocs(opts.openapiSecurityScheme)
  const admin = adminOnly(opts.isAdmin)
  const errors = { 400: ERROR, 401: ERROR, 403: ERROR }

  // `/rooms` as documented; `/rooms/` answers the same but stays out of the OpenAPI document.
  const roomList = async (request: FastifyRequest<{ Querystring: Static<typeof PageQuery> }>): Promise<unknown> =>
    await access.roomPage(request, request.query.cursor, request.query.limit ?? 100)
  const roomListSchema = doc('A page of the rooms with members that the caller may read, sorted by name', { querystring: PageQuery, response: { 200: RoomList, ...errors } })
  fastify.get<{ Querystring: Static<typeof PageQuery> }>('', { prefixTrailingSlash: 'no-slash', schema: roomListSchema }, roomList)
  fastify.get<{ Querystring: Static<typeof PageQuery> }>('/', { prefixTrailingSlash: 'slash', schema: { ...roomListSchema, hide: true } as typeof roomListSchema }, roomList)

  fastify.get<{ Params: Static<typeof RoomParams> }>('/:room', {
    schema: doc('One room and its member count', { params: RoomParams, response: { 200: RoomInfoSchema, 404: ERROR, ...errors } })
  }, async (request) => {
    await access.check(request, request.params.room)
    const room = await chat.room(request.params.room)
    if (room === null) throw new FST_CHAT_ROOM_NOT_FOUND(JSON.stringify(request.params.room))
    return room
  })

  fastify.get<{ Params: Static<typeof RoomParams>, Querystring: Static<typeof PageQuery> }>('/:room/members', {
    schema: doc('A page of a room\'s members, in join order', { params: RoomParams, querystring: PageQuery, response: { 200: MemberList, 404: ERROR, ...errors } })
  }, async (request) => {
    const { room } = request.params
    await access.check(request, room)
    const page = await chat.memberPage(room, { cursor: request.query.cursor, limit: request.query.limit })
    if (page.members.length === 0 && request.query.cursor === undefined) throw new FST_CHAT_ROOM_NOT_FOUND(JSON.stringify(room))
    return { room, ...page }
  })

  const historyQuery = HistoryQuery(opts.store !== undefined ? MAX_HISTORY_PAGE : Math.max(1, Math.min(MAX_HISTORY_PAGE, opts.history.size)))
  fastify.get<{ Params: Static<typeof RoomParams>, Querystring: Static<typeof historyQuery> }>('/:room/messages', {
    schema: doc('A page of the room\'s message history', { params: RoomParams, querystring: historyQuery, response: { 200: HistoryBody, 404: ERROR, ...errors } })
  }, async (request) => {
    const { after, before, limit } = request.query
    await access.check(request, request.params.room)
    return await chat.history(request.params.room, { after, before, limit })
  })

  fastify.put<{ Params: Static<typeof MemberParams> }>('/:room/members/:clientId', {
    preHandler: admin,
    schema: doc('Join a connected client to a room (admin)', {
      params: MemberParams,
      response: { 204: Type.Null(), 404: ERROR, 409: ERROR, ...errors }
    })
  }, async (request, reply) => {
    await chat.join(request.params.clientId, request.params.room)
    return reply.code(204).send()
  })

  fastify.delete<{ Params: Static<typeof MemberParams> }>('/:room/members/:clientId', {
    preHandler: admin,
    schema: doc('Remove a client from a room (admin)', {
      params: MemberParams,
      response: { 204: Type.Null(), 404: ERROR, ...errors }
    })
  }, async (request, reply) => {
    const { room, clientId } = request.params
    if (!await chat.leave(clientId, room)) throw new FST_CHAT_NOT_A_MEMBER(JSON.stringify(clientId), JSON.stringify(room))
    return reply.code(204).send()
  })

  const body = MessageBody(opts.maxMessageLength)
  fastify.post<{ Params: Static<typeof RoomParams>, Body: Static<typeof body> }>('/:room/messages', {
    preHandler: admin,
    schema: doc('Send a server message to a room (admin)', {
      params: RoomParams,
      body,
      response: { 202: MessageAccepted, ...errors }
    })
  }, async (request, reply) => {
    // A direct conversation is its two participants' (app.chat.sendToUser writes to a user's own).
    if (isDirect(request.params.room)) throw new FST_CHAT_DIRECT_FORBIDDEN(JSON.stringify(request.params.room))
    const { id, seq } = await chat.broadcast(request.params.room, request.body.content, { meta: request.body.meta })
    return reply.code(202).send({ id, seq })
  })
}

/**
 * fastify-chat: real-time chat for a Fastify 5 host API.
 *
 * ```ts
 * await app.register(chatPlugin, { jwt: { secret: process.env.JWT_SECRET } })
 * ```
 */
import fastifyJwt from '@fastify/jwt'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { memoryAdapter } from './adapter/memory.js'
import { memoryTicketStore } from './adapter/tickets.js'
import { Admission } from './admission.js'
import { Overload } from './overload.js'
import { authHook, handleProtocols, jwtPluginOptions, ownVerifier, tokenVerifier } from './auth.js'
import { createChatApi } from './chat-api.js'
import { ChatHub } from './core/hub.js'
import { Dispatcher } from './dispatcher.js'
import { createMetrics } from './metrics.js'
import type { ChatUser } from './model.js'
import { resolveOptions } from './options.js'
import { createCodec } from './protocol/codec.js'
import { moderationRoutes } from './routes/moderation.js'
import { roomsRoutes } from './routes/rooms.js'
import { usersRoutes } from './routes/users.js'
import { socketRoute } from './routes/socket.js'
import type { ChatPluginOptions } from './types.js'

const plugin: FastifyPluginAsync<ChatPluginOptions> = async function fastifyChat (fastify, options) {
  const opts = resolveOptions(fastify, options)
  const admission = new Admission(opts)
  const overload = new Overload(opts.admission)
  const hub = new ChatHub(opts, admission, fastify.log)
  const store = opts.store === undefined ? undefined : await opts.store({ log: fastify.log })
  let adapter
  try {
    adapter = hub.adapter = await (opts.adapter ?? memoryAdapter())(hub)
  } catch (err) {
    await store?.close()
    throw err
  }
  if (store !== undefined) hub.useStore(store)
  const tickets = adapter.tickets ?? memoryTicketStore()
  // Set once our context (and its @fastify/jwt) exists.
  let verifyToken: (token: string) => Promise<ChatUser> = async () => { throw new Error('fastify-chat is not ready') }
  const dispatcher = new Dispatcher(hub, createCodec(opts), opts, async (token) => await verifyToken(token))
  const chat = createChatApi(hub, opts)

  fastify.decorate('chat', chat)
  if (opts.metrics !== false) dispatcher.metrics = await createMetrics(opts.metrics, () => hub.stats())

  // Added before @fastify/websocket is registered so that it runs first: the sockets are closed
  // with 1001 here (its own preClose would close them with no code, which clients see as 1005).
  fastify.addHook('preClose', async () => { await hub.shutdown() })
  fastify.addHook('onClose', async () => { overload.close(); await hub.close() })

  if (fastify.hasDecorator('websocketServer')) {
    // The host registered @fastify/websocket itself: its options (maxPayload above all) rule.
    const hostMax = (fastify.websocketServer.options as { maxPayload?: number }).maxPayload
    if (hostMax === undefined || hostMax > opts.maxPayload) {
      fastify.log.warn({ hostMaxPayload: hostMax, maxPayload: opts.maxPayload },
        'fastify-chat: @fastify/websocket was registered by the host with a larger maxPayload, which applies to the chat too')
    }
  } else {
    // On the host's context, so that the host gets `app.injectWS` to test its app.
    await fastify.register(fastifyWebsocket, {
      // No client tracking: the hub knows every socket and closes them (ws's Set would cost 40
      // bytes a connection for nothing).
      options: { maxPayload: opts.maxPayload, perMessageDeflate: false, handleProtocols, clientTracking: false },
      // The hub's preClose has closed the sockets; only the server is left to close.
      preClose: function (this: FastifyInstance, done: () => void) {
        this.websocketServer.close(() => done())
      }
    })
  }

  // Our routes live in a context of their own, so that the auth hook (and our @fastify/jwt, if
  // we register it) guard them and nothing of the host's. fastify-plugin ignores `prefix` on
  // this wrapper, so it is applied here.
  await fastify.register(async function chatContext (instance: FastifyInstance) {
    if (opts.jwt !== undefined) await instance.register(fastifyJwt, jwtPluginOptions(opts.jwt, opts.verify))
    // Our own tokens verified with one decode, where our options allow it.
    const own = opts.jwt === undefined ? undefined : ownVerifier(opts.jwt, opts.verify)
    instance.addHook('onRequest', authHook(opts, opts.jwt !== undefined, own, admission, tickets, async (userId) => await hub.admit(userId), overload,
      async (userId) => await hub.adapter.userRestrictions(userId)))
    verifyToken = tokenVerifier(instance, opts, opts.jwt !== undefined, own)
    await instance.register(socketRoute, { opts, dispatcher, tickets })
    await instance.register(roomsRoutes, { prefix: opts.roomsPrefix, opts, chat })
    await instance.register(moderationRoutes, { opts, chat })
    await instance.register(usersRoutes, { opts, chat })
  }, { prefix: opts.prefix })

  hub.startHeartbeat()
  overload.start()
}

/** The plugin. Register it with `await app.register(chatPlugin, options)`. */
export const chatPlugin = fp(plugin, {
  name: 'fastify-chat',
  fastify: '5.x'
})

export default chatPlugin
export { chatPlugin as fastifyChat }
export { chatErrSerializer, chatLogSerializers, chatReqSerializer } from './log.js'
export { memoryAdapter, MemoryAdapter } from './adapter/memory.js'
export { createMemoryBus, MemoryBus } from './adapter/memory-bus.js'
export { redisAdapter, RedisAdapter, type RedisAdapterOptions } from './adapter/redis/index.js'
export { memoryTicketStore, type TicketStore } from './adapter/tickets.js'
export type {
  AdapterFactory, AdapterNode, ChatAdapter, HeldMessage, MemberPage, MessageDraft, Page, Published, RemoteCommand, RemoteResult, Resume, Revision,
  RoomPage, RoomState, StoredFrame, Marker, Unread
} from './adapter/contract.js'
export { UNREAD_CAP, type UnreadRoom, type UnreadCount } from './core/reads.js'
export { postgresStore, PostgresStore, type PgPool, type PostgresStoreOptions } from './store/postgres/index.js'
export type { ChatStore, MessageChange, StoredEvent, StoreFactory, StoreMessage } from './store/contract.js'
export { ClusterRpc, type RpcBus } from './adapter/cluster-rpc.js'
export { Membership } from './core/membership.js'
export type { JoinOutcome, LeaveOutcome } from './outcomes.js'
export { CloseCode, ErrorCode, ROOM_PATTERN, type LeaveReason } from './constants.js'
export * as errors from './errors.js'
export * from './protocol/schemas.js'
export type {
  ChatApi, ChatEventMap, ChatEventName, ChatPluginOptions, ChatStats, ChatUser, HistoryOptions, HistoryPage, Member, MemberInfo, MessageContext,
  MessageInfo, MessageVerdict, RateLimitOptions, RoomInfo
} from './types.js'

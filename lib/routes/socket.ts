/** The WebSocket route: builds a Connection for each authenticated socket and hands it over. */
import type { FastifyInstance, FastifySchema } from 'fastify'
import type {} from '@fastify/websocket'
import { randomBytes } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { TicketStore } from '../adapter/tickets.js'
import { chatClientId, chatIp, chatRestrictions, chatUser, hasBearerHeader, isChatUpgrade } from '../auth.js'
import { FST_CHAT_TICKET_NEEDS_BEARER } from '../errors.js'
import type { Dispatcher } from '../dispatcher.js'
import type { ResolvedOptions } from '../options.js'
import { Connection, type ConnectionShared } from '../transport/connection.js'
import { RateLimiter } from '../transport/rate-limit.js'
import { holdUntilEndOfTurn } from '../transport/turn.js'
import { routeDocs } from './rooms.js'
import type { IncomingMessage } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'

export interface SocketRouteOptions {
  opts: ResolvedOptions
  dispatcher: Dispatcher
  tickets: TicketStore
}

/** How long a ticket may wait for its socket, seconds. */
const TICKET_TTL_S = 30

export async function socketRoute (fastify: FastifyInstance, { opts, dispatcher, tickets }: SocketRouteOptions): Promise<void> {
  // A one-time ticket for a browser's socket (`?ticket=`), so that no token travels in its URL.
  fastify.post(`${opts.path}/tickets`, {
    schema: routeDocs(opts.openapiSecurityScheme)('A one-time ticket that opens one socket (?ticket=) within expiresIn seconds', {
      response: { 200: Type.Object({ ticket: Type.String(), expiresIn: Type.Integer() }) }
    }) as FastifySchema
  }, async (request) => {
    if (!hasBearerHeader(request)) throw new FST_CHAT_TICKET_NEEDS_BEARER()
    const ticket = randomBytes(24).toString('base64url') // 192 random bits
    await tickets.issue(ticket, JSON.stringify(chatUser(request)), TICKET_TTL_S * 1000)
    return { ticket, expiresIn: TICKET_TTL_S }
  })

  // ws emits 'headers' just before it writes an upgrade's 101 response: held until the end of
  // the turn, the response leaves with the connection's welcome in one write. Only our sockets
  // (the host's own WebSocket routes may share this server); injectWS's requests have no socket.
  const onHeaders = (_headers: string[], request: IncomingMessage): void => {
    const socket = request.socket as Duplex | undefined
    if (socket !== undefined && isChatUpgrade(request)) holdUntilEndOfTurn(socket)
  }
  fastify.websocketServer.on('headers', onHeaders)
  fastify.addHook('onClose', async () => { fastify.websocketServer.off('headers', onHeaders) })

  const { rateLimit, maxBufferedAmount } = opts
  const shared: ConnectionShared = { log: fastify.log, maxBuffered: maxBufferedAmount, highWater: Math.min(opts.slowConsumerHighWaterMark, maxBufferedAmount), events: dispatcher }
  fastify.get(opts.path, { websocket: true }, (socket, request) => {
    const limiter = rateLimit === false
      ? undefined
      : new RateLimiter(rateLimit.perSecond, rateLimit.burst, rateLimit.maxViolations, performance.now())
    // The constructor attaches the socket's listeners synchronously: no frame can be missed.
    const conn = new Connection(socket, {
      id: chatClientId(request),
      user: chatUser(request),
      reqId: request.id,
      ip: chatIp(request),
      limiter,
      shared,
      restrictions: chatRestrictions(request)
    })
    dispatcher.open(conn)
  })
}

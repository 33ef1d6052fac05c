/** The WebSocket route: builds a Connection for each authenticated socket and hands it over. */
import type { FastifyInstance } from 'fastify'
import type {} from '@fastify/websocket'
import { chatUser } from '../auth.js'
import { Connection } from '../connection.js'
import type { Dispatcher } from '../dispatcher.js'
import type { ResolvedOptions } from '../options.js'
import { RateLimiter } from '../rate-limit.js'
import { performance } from 'node:perf_hooks'

export interface SocketRouteOptions {
  opts: ResolvedOptions
  dispatcher: Dispatcher
}

export async function socketRoute (fastify: FastifyInstance, { opts, dispatcher }: SocketRouteOptions): Promise<void> {
  const { rateLimit, maxBufferedAmount } = opts
  fastify.get(opts.path, { websocket: true }, (socket, request) => {
    const limiter = rateLimit === false
      ? undefined
      : new RateLimiter(rateLimit.perSecond, rateLimit.burst, rateLimit.maxViolations, performance.now())
    // The constructor attaches the socket's listeners synchronously: no frame can be missed.
    const conn = new Connection(socket, {
      user: chatUser(request),
      log: fastify.log,
      reqId: request.id,
      limiter,
      maxBuffered: maxBufferedAmount,
      events: dispatcher
    })
    dispatcher.open(conn)
  })
}

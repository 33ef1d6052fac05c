import type { FastifyRequest } from 'fastify'

/**
 * A `req` log serializer that leaves the query string out. Fastify writes its incoming-request
 * line, URL included, before any plugin hook runs, so a token in `?token=` would reach the logs:
 * use this in the host's logger options.
 *
 * ```ts
 * Fastify({ logger: { serializers: { req: chatReqSerializer } } })
 * ```
 */
export function chatReqSerializer (request: FastifyRequest): Record<string, unknown> {
  const url = request.url
  const cut = url.indexOf('?')
  return {
    method: request.method,
    url: cut === -1 ? url : url.slice(0, cut),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

/** The serializers to give the host's logger: `Fastify({ logger: { serializers: chatLogSerializers } })`. */
export const chatLogSerializers = Object.freeze({ req: chatReqSerializer })

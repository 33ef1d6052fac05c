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

/**
 * An `err` log serializer: a client's mistake (a 4xx: no token, forbidden, not found) is one short
 * line without a stack trace, which only a server fault (5xx, or an error without a status) keeps.
 */
export function chatErrSerializer (err: Error & { code?: unknown, statusCode?: unknown }): SerializedError {
  if (err === null || typeof err !== 'object') return { type: typeof err, message: String(err) } as SerializedError
  const out: Record<string, unknown> = { type: err.name, message: err.message }
  if (err.code !== undefined) out.code = err.code
  if (err.statusCode !== undefined) out.statusCode = err.statusCode
  const status = err.statusCode
  // Fastify's types ask for a stack on every serialized error; a client's mistake has none to show.
  if (typeof status === 'number' && status >= 400 && status < 500) return out as SerializedError
  out.stack = err.stack
  if (err.cause !== undefined) out.cause = err.cause instanceof Error ? chatErrSerializer(err.cause) : err.cause
  return out as SerializedError
}

/** A serialized error as pino's, and Fastify's types, describe it. */
export interface SerializedError {
  type: string
  message: string
  stack: string
  [key: string]: unknown
}

/**
 * The serializers to give the host's logger: `Fastify({ logger: { serializers: chatLogSerializers } })`:
 * request lines without query strings (tokens), client errors without stack traces.
 */
export const chatLogSerializers = Object.freeze({ req: chatReqSerializer, err: chatErrSerializer })

/**
 * The only file that touches `ws`'s (and `@fastify/websocket`'s) private parts. Each use is
 * guarded (a missing field means the plain, slower path, never a crash), and
 * test/ws-internals.test.ts fails by name if a `ws` upgrade moves one of them.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'

/**
 * The transport under a `ws` socket (its private `_socket`), to write pre-built frames to
 * directly; undefined when ws must frame them itself (an extension such as permessage-deflate was
 * negotiated) or the field is gone.
 */
export function rawTransport (socket: WebSocket): Duplex | undefined {
  if (socket.extensions !== '') return undefined
  const transport = (socket as unknown as { _socket?: unknown })._socket
  return isDuplex(transport) ? transport : undefined
}

function isDuplex (value: unknown): value is Duplex {
  return typeof value === 'object' && value !== null &&
    typeof (value as Duplex).write === 'function' && typeof (value as Duplex).cork === 'function' &&
    typeof (value as Duplex).uncork === 'function'
}

/**
 * Lets go of what the upgrade left attached to a socket for its whole life: the HTTP response
 * object (Node's private `_httpMessage`, and through it the request), and `@fastify/websocket`'s
 * error listener, which holds the upgrade's request and reply (several KiB per connection).
 * `onError` takes over its job: log, and let 'close' clean up.
 */
export function releaseUpgrade (socket: WebSocket, transport: Duplex | undefined, onError: (this: WebSocket, err: Error) => void): void {
  socket.removeAllListeners('error')
  socket.on('error', onError)
  if (transport === undefined) return
  const response = (transport as { _httpMessage?: { detachSocket?: (s: unknown) => void } })._httpMessage
  if (typeof response?.detachSocket === 'function') response.detachSocket(transport)
  settleInMemoryTransport(transport)
}

/**
 * `injectWS` runs a socket over an in-memory duplex that, unlike a `net.Socket`, does not destroy
 * itself once both directions have ended, so `ws` would wait its 30 s close timeout for a 'close'
 * that never comes and a host's tests would see members that already left. Destroy it as a TCP
 * socket would. Real sockets are left alone.
 */
function settleInMemoryTransport (transport: Duplex): void {
  if (transport instanceof Socket) return
  let ended = 0
  const settle = (): void => { if (++ended === 2) transport.destroy() }
  transport.once('end', settle)
  transport.once('finish', settle)
}

/** Unsent bytes of a socket: the transport's own count when we write to it, else ws's. */
export function bufferedAmount (socket: WebSocket, transport: Duplex | undefined): number {
  return transport === undefined ? socket.bufferedAmount : transport.writableLength
}

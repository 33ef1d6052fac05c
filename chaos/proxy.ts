/**
 * A TCP fault proxy (this kernel has no netem): listens on a loopback port and forwards every
 * connection to a target, unless told otherwise: `latency` holds each chunk for some ms each way,
 * `blackhole` keeps connections open and drops what they send (new ones too), `reset` destroys
 * every connection and refuses new ones. One per process and backend, so that one process can lose
 * its Redis or its database while the others keep theirs.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export type ProxyMode = { kind: 'pass' } | { kind: 'latency', ms: number } | { kind: 'blackhole' } | { kind: 'reset' }

export class FaultProxy {
  readonly target: { host: string, port: number }
  readonly #server: Server
  readonly #pairs = new Set<[Socket, Socket]>()
  #mode: ProxyMode = { kind: 'pass' }
  port = 0

  constructor (target: { host: string, port: number }) {
    this.target = target
    this.#server = createServer((client) => this.#accept(client))
  }

  async listen (port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, '127.0.0.1', () => resolve())
    })
    this.port = (this.#server.address() as { port: number }).port
    return this.port
  }

  get mode (): ProxyMode {
    return this.#mode
  }

  set mode (mode: ProxyMode) {
    this.#mode = mode
    if (mode.kind === 'reset') for (const [a, b] of this.#pairs) { a.destroy(); b.destroy() }
  }

  #accept (client: Socket): void {
    client.on('error', () => {})
    if (this.#mode.kind === 'reset') {
      client.destroy()
      return
    }
    const upstream = connect(this.target.port, this.target.host)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    const pair: [Socket, Socket] = [client, upstream]
    this.#pairs.add(pair)
    const done = (): void => {
      this.#pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', done)
    upstream.on('close', done)
    this.#pipe(client, upstream)
    this.#pipe(upstream, client)
  }

  /** Forwards one direction, chunk by chunk, as the mode of the moment says. */
  #pipe (from: Socket, to: Socket): void {
    // A chunk is not overtaken by a later one, whatever the latency of each.
    let tail = Promise.resolve()
    from.on('data', (chunk) => {
      const mode = this.#mode
      if (mode.kind === 'blackhole') return
      if (mode.kind === 'latency') {
        const due = new Promise<void>((resolve) => setTimeout(resolve, mode.ms))
        tail = tail.then(async () => await due).then(() => { if (!to.destroyed) to.write(chunk) })
        return
      }
      tail = tail.then(() => { if (!to.destroyed) to.write(chunk) })
    })
  }

  async close (): Promise<void> {
    for (const [a, b] of this.#pairs) { a.destroy(); b.destroy() }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

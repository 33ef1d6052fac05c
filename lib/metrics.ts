/**
 * Prometheus metrics through prom-client, when the host opts in (`metrics: true` for prom-client's
 * default registry, which fastify-metrics also serves, or `metrics: { registry }`). prom-client is
 * loaded only then.
 */
import type { ChatStats } from './model.js'

/** What the plugin reports as it goes; the gauges are read from `stats()` at scrape time. */
export interface ChatMetrics {
  error (code: string): void
  close (code: number): void
}

export const noMetrics: ChatMetrics = Object.freeze({ error () {}, close () {} })

export interface MetricsOptions {
  /** A prom-client Registry; default prom-client's global one. */
  registry?: unknown
  /** Prefix of every metric name. Default `fastify_chat_`. */
  prefix?: string
}

export async function createMetrics (options: true | MetricsOptions, stats: () => ChatStats): Promise<ChatMetrics> {
  const prom = await import('prom-client')
  const opts = options === true ? {} : options
  const registers = [(opts.registry ?? prom.register) as InstanceType<typeof prom.Registry>]
  const p = opts.prefix ?? 'fastify_chat_'
  const gauge = (name: string, help: string, read: (s: ChatStats) => number) => new prom.Gauge({
    name: p + name, help, registers, collect () { this.set(read(stats())) }
  })
  gauge('connections', 'Open chat sockets on this process', (s) => s.connections)
  gauge('rooms', 'Rooms with members on this process', (s) => s.rooms)
  gauge('members', 'Memberships across all rooms on this process', (s) => s.members)
  // Totals kept by the hub: counters advanced to them at scrape time.
  const total = (name: string, help: string, read: (s: ChatStats) => number) => {
    let seen = 0
    return new prom.Counter({
      name: p + name, help, registers, collect () { const now = read(stats()); if (now > seen) { this.inc(now - seen); seen = now } }
    })
  }
  total('messages_in_total', 'Frames received from clients', (s) => s.messagesIn)
  total('messages_out_total', 'Frames sent to clients (a broadcast to 10 counts 10)', (s) => s.messagesOut)
  const errors = new prom.Counter({ name: p + 'errors_total', help: 'Error frames sent, by code', labelNames: ['code'], registers })
  const closes = new prom.Counter({ name: p + 'closes_total', help: 'Closed sockets, by close code', labelNames: ['code'], registers })
  return {
    error (code) { errors.inc({ code }) },
    close (code) { closes.inc({ code: String(code) }) }
  }
}

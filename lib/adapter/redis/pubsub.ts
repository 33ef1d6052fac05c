/**
 * The subscriber side: a connection of our own (a duplicate of the host's client) that listens to
 * the rooms this process has members in and to its own inbox. On a Redis Cluster, and on Redis 7
 * or later, channels are sharded (SSUBSCRIBE / SPUBLISH): a room's traffic stays on the shard that
 * holds the room and never crosses the cluster bus. Older servers use classic PUBLISH.
 */
import type { FastifyBaseLogger } from 'fastify'
import { Cluster, type Redis } from 'ioredis'
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'
import type { Client } from './health.js'

export interface SubscriberEvents {
  /** A message on a channel. */
  message (channel: string, message: string): void
  /** (Re)subscribed after a reconnect or a topology change: what came meanwhile may be lost. */
  resubscribed (): void
  /** The subscriber lost its connection. */
  lost (err?: Error): void
}

/** Whether the server speaks sharded pub/sub (Redis 7): a cluster always uses it when it can. */
export async function supportsSharded (client: Client): Promise<boolean> {
  const info = await (client instanceof Cluster ? client.nodes('master')[0] : client).info('server')
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0)
  return major >= 7
}

export class Subscriber {
  readonly sharded: boolean
  readonly #events: SubscriberEvents
  readonly #sub: Client
  readonly #channels = new Set<string>()
  #closed = false
  #started = false

  constructor (client: Client, sharded: boolean, name: string, events: SubscriberEvents, log: FastifyBaseLogger) {
    this.sharded = sharded
    this.#events = events
    if (client instanceof Cluster) {
      // One subscriber per master, each following its slots through failovers and resharding.
      this.#sub = client.duplicate(undefined, {
        shardedSubscribers: true,
        enableOfflineQueue: false,
        redisOptions: { ...client.options.redisOptions, connectionName: name }
      })
      this.#sub.on('subscribersReady', () => this.#resubscribed())
      this.#sub.on('-node', () => this.#events.lost())
    } else {
      this.#sub = (client as Redis).duplicate({ enableOfflineQueue: false, lazyConnect: false, connectionName: name })
      this.#sub.on('ready', () => { void this.#resubscribe() })
    }
    const event = sharded ? 'smessage' : 'message'
    this.#sub.on(event, (channel: string, message: string) => this.#events.message(channel, message))
    this.#sub.on('error', (err: Error) => {
      log.debug({ err }, 'fastify-chat: Redis subscriber error')
      this.#events.lost(err)
    })
  }

  get ready (): boolean {
    return this.#sub.status === 'ready'
  }

  /** Waits (at most `timeout` ms) for the connection, then subscribes to `channels`. */
  async start (channels: string[], timeout: number): Promise<void> {
    if (this.#sub.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#sub.off('ready', done); resolve() }
        const timer = setTimeout(done, timeout)
        this.#sub.once('ready', done)
      })
    }
    this.#started = true
    for (const channel of channels) await this.subscribe(channel)
  }

  async subscribe (channel: string): Promise<void> {
    this.#channels.add(channel)
    if (this.#sub.status !== 'ready') throw new FST_CHAT_UNAVAILABLE(`the Redis subscriber is ${this.#sub.status}`)
    try {
      if (this.sharded) await this.#sub.ssubscribe(channel)
      else await this.#sub.subscribe(channel)
    } catch (err) {
      throw new FST_CHAT_UNAVAILABLE((err as Error).message)
    }
  }

  async unsubscribe (channel: string): Promise<void> {
    this.#channels.delete(channel)
    if (this.#sub.status !== 'ready') return
    await (this.sharded ? this.#sub.sunsubscribe(channel) : this.#sub.unsubscribe(channel)).catch(() => {})
  }

  /** Every channel again (after a reconnect: ioredis resubscribes too, which does no harm). */
  async #resubscribe (): Promise<void> {
    if (this.#closed || !this.#started) return
    try {
      for (const channel of this.#channels) {
        if (this.sharded) await this.#sub.ssubscribe(channel)
        else await this.#sub.subscribe(channel)
      }
    } catch (err) {
      this.#events.lost(err as Error)
      return
    }
    this.#resubscribed()
  }

  #resubscribed (): void {
    if (!this.#closed && this.#started) this.#events.resubscribed()
  }

  /** Subscribes everything again, as after a reconnect (the backend came back). */
  async refresh (): Promise<void> {
    await this.#resubscribe()
  }

  close (): void {
    this.#closed = true
    this.#sub.disconnect()
  }
}

/**
 * The subscriber side: a connection of our own (a duplicate of the host's client) that listens to
 * the rooms this process has members in and to its own inbox. On a Redis Cluster, and on Redis 7
 * or later, channels are sharded (SSUBSCRIBE / SPUBLISH): a room's traffic stays on the shard that
 * holds the room and never crosses the cluster bus. Older servers use classic PUBLISH.
 */
import type { FastifyBaseLogger } from 'fastify'
import calculateSlot from 'cluster-key-slot'
import { Cluster, type Redis } from 'ioredis'
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'
import type { Client } from './health.js'

export interface SubscriberEvents {
  /** A message on a channel. */
  message (channel: string, message: string): void
  /** (Re)subscribed after a reconnect or a topology change: what came meanwhile may be lost. */
  resubscribed (): void
}

/** Whether the server speaks sharded pub/sub (Redis 7): a cluster always uses it when it can. */
export async function supportsSharded (client: Client): Promise<boolean> {
  const info = await (client instanceof Cluster ? client.nodes('master')[0] : client).info('server')
  const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0)
  return major >= 7
}

/** How long a subscriber may stay broken (a connection lost, not whole again) before it is made anew, ms. */
export const REBUILD_AFTER_MS = 5000

export class Subscriber {
  readonly sharded: boolean
  readonly #events: SubscriberEvents
  readonly #client: Client
  readonly #name: string
  readonly #log: FastifyBaseLogger
  readonly #rebuildAfter: number
  #sub: Client
  readonly #channels = new Set<string>()
  #closed = false
  #started = false
  /** Since when a connection of it has been lost without its subscriptions being whole again. */
  #brokenSince: number | undefined
  #rebuilding = false
  /** When a room's channel was found not heard (see `recheck`), within the last minute. */
  #rechecks: number[] = []
  readonly #watchdog: NodeJS.Timeout
  /** Cluster: the master of each channel's slot as the host's client last saw it. */
  readonly #owners = new Map<string, string>()
  readonly #onRefresh = (): void => this.#slotsMoved()

  constructor (client: Client, sharded: boolean, name: string, events: SubscriberEvents, log: FastifyBaseLogger, rebuildAfter = REBUILD_AFTER_MS) {
    this.sharded = sharded
    this.#events = events
    this.#client = client
    this.#name = name
    this.#log = log
    this.#rebuildAfter = rebuildAfter
    this.#sub = this.#connect()
    // ioredis brings its subscriber back by itself, mostly: a cluster's sharded subscribers can stay
    // ended after a reset that came with a failover (the chaos run found a process that heard no
    // room again). One that stays broken is made anew.
    this.#watchdog = setInterval(() => this.#check(), Math.min(1000, rebuildAfter)).unref()
    if (client instanceof Cluster) client.on('refresh', this.#onRefresh)
  }

  /**
   * The cluster's slots changed (a migration, a failover): a channel whose slot has another master
   * now is subscribed again. Redis ends the subscriptions of a moved slot itself, and ioredis only
   * follows when its own view of the slots has changed by then: one that refreshed before the move
   * was everywhere left the channel unsubscribed (a migration test showed it).
   */
  #slotsMoved (): void {
    if (this.#closed || !this.#started || !this.sharded) return
    const slots = (this.#client as Cluster).slots
    const moved: string[] = []
    for (const channel of this.#channels) {
      const master = slots[calculateSlot(channel)]?.[0]
      if (master === undefined) continue
      const before = this.#owners.get(channel)
      this.#owners.set(channel, master)
      if (before !== undefined && before !== master) moved.push(channel)
    }
    if (moved.length === 0) return
    // A moment later: the subscriber's own view of the slots follows the host client's.
    setTimeout(() => {
      for (const channel of moved) {
        if (this.#channels.has(channel) && this.#sub.status === 'ready') void this.#sub.ssubscribe(channel).catch(() => {})
      }
    }, 500).unref()
  }

  #connect (): Client {
    const client = this.#client
    let sub: Client
    if (client instanceof Cluster) {
      // One subscriber per master, each following its slots through failovers and resharding.
      sub = client.duplicate(undefined, {
        shardedSubscribers: true,
        enableOfflineQueue: false,
        redisOptions: { ...client.options.redisOptions, connectionName: this.#name }
      })
      sub.on('subscribersReady', () => { if (this.#sub === sub) this.#whole() })
      // A sharded subscriber ended: ioredis makes a new one when it refreshes the slots.
      sub.on('-node', () => { if (this.#sub === sub) this.#broke() })
    } else {
      sub = (client as Redis).duplicate({ enableOfflineQueue: false, lazyConnect: false, connectionName: this.#name })
      sub.on('ready', () => { if (this.#sub === sub) void this.#resubscribe() })
      sub.on('close', () => { if (this.#sub === sub) this.#broke() })
    }
    const event = this.sharded ? 'smessage' : 'message'
    sub.on(event, (channel: string, message: string) => { if (this.#sub === sub) this.#events.message(channel, message) })
    // An error alone breaks nothing: the close or the ended subscriber that follows does.
    sub.on('error', (err: Error) => this.#log.debug({ err }, 'fastify-chat: Redis subscriber error'))
    return sub
  }

  get ready (): boolean {
    return this.#sub.status === 'ready'
  }

  /** Waits (at most `timeout` ms) for the connection, then subscribes to `channels`. */
  async start (channels: string[], timeout: number): Promise<void> {
    await this.#ready(timeout)
    this.#started = true
    for (const channel of channels) await this.subscribe(channel)
  }

  async #ready (timeout: number): Promise<void> {
    const sub = this.#sub
    if (sub.status === 'ready') return
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); sub.off('ready', done); resolve() }
      const timer = setTimeout(done, timeout)
      sub.once('ready', done)
    })
  }

  async subscribe (channel: string): Promise<void> {
    this.#channels.add(channel)
    if (this.#client instanceof Cluster) {
      const master = this.#client.slots[calculateSlot(channel)]?.[0]
      if (master !== undefined) this.#owners.set(channel, master)
    }
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
    this.#owners.delete(channel)
    if (this.#sub.status !== 'ready') return
    await (this.sharded ? this.#sub.sunsubscribe(channel) : this.#sub.unsubscribe(channel)).catch(() => {})
  }

  /** Every channel again (after a reconnect: ioredis resubscribes too, which does no harm). */
  async #resubscribe (): Promise<boolean> {
    if (this.#closed || !this.#started) return false
    try {
      for (const channel of this.#channels) {
        if (this.sharded) await this.#sub.ssubscribe(channel)
        else await this.#sub.subscribe(channel)
      }
    } catch (err) {
      this.#broke(err as Error)
      return false
    }
    this.#whole()
    return true
  }

  #broke (err?: Error): void {
    if (this.#closed || !this.#started || this.#brokenSince !== undefined) return
    this.#brokenSince = Date.now()
    this.#log.warn({ err }, 'fastify-chat: the Redis subscriber lost a connection; live frames may miss this process until it is whole again, then its rooms read back what they missed')
  }

  /** Its subscriptions are whole again: what came meanwhile may be lost, so the rooms read it back. */
  #whole (): void {
    if (this.#closed || !this.#started) return
    if (this.#brokenSince !== undefined) this.#log.info('fastify-chat: the Redis subscriber is whole again')
    this.#brokenSince = undefined
    this.#events.resubscribed()
  }

  /**
   * A channel this process publishes to was not heard back: subscribed again (ioredis's sharded
   * subscribers can say they are ready while a channel's subscription did not land); a second
   * time within a minute, the subscriber is made anew.
   */
  async recheck (channel: string): Promise<void> {
    if (this.#closed || !this.#channels.has(channel)) return
    const now = Date.now()
    this.#rechecks = this.#rechecks.filter((at) => at > now - 60_000)
    this.#rechecks.push(now)
    if (this.#rechecks.length >= 2) {
      this.#rechecks = []
      if (!this.#rebuilding) await this.#rebuild('a room\'s channel was not heard twice within a minute')
      return
    }
    if (this.#sub.status !== 'ready') return
    await (this.sharded ? this.#sub.ssubscribe(channel) : this.#sub.subscribe(channel)).catch(() => {})
  }

  #check (): void {
    const since = this.#brokenSince
    if (since === undefined || this.#closed || this.#rebuilding || Date.now() - since < this.#rebuildAfter) return
    void this.#rebuild(`broken for ${Date.now() - since} ms`)
  }

  /** A new connection in place of one that stayed broken, with every channel subscribed again. */
  async #rebuild (why: string): Promise<void> {
    this.#rebuilding = true
    this.#log.warn({ why }, 'fastify-chat: making the Redis subscriber anew')
    // Counted from now: a rebuild that fails is tried again after the same wait.
    this.#brokenSince = Date.now()
    const old = this.#sub
    old.removeAllListeners()
    old.on('error', () => {})
    old.disconnect()
    this.#sub = this.#connect()
    try {
      await this.#ready(this.#rebuildAfter)
      if (this.#sub.status === 'ready') await this.#resubscribe()
    } finally {
      this.#rebuilding = false
    }
  }

  /** Subscribes everything again, as after a reconnect (the backend came back). */
  async refresh (): Promise<void> {
    await this.#resubscribe()
  }

  close (): void {
    this.#closed = true
    clearInterval(this.#watchdog)
    this.#client.off('refresh', this.#onRefresh)
    this.#sub.disconnect()
  }
}

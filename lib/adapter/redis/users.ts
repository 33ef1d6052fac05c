/**
 * The Redis adapter's side of users: each user's connections cluster-wide (the admission's count,
 * and where commands to "every connection of the user" go), with the user's bans and mutes read
 * in the same script call; this process's set of users (what a reaper reads if it dies); and
 * presence: the first open connection anywhere and the last one closing are told on the user's
 * channel, which a process subscribes to while any of its connections watches the user.
 */
import type { AdapterNode, UserPresence } from '../contract.js'
import type { Restriction } from '../../model.js'
import { Batcher } from './batcher.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { restrictionsOf } from './restrictions.js'
import { scripts } from './scripts.js'
import type { Subscriber } from './pubsub.js'

export class RedisUsers {
  readonly #keys: Keys
  readonly #health: Health
  /** Admitted and open connections here per user digest: the first adds the user to this process's set, the last removes it. */
  readonly #here = new Map<string, number>()
  /** This process's user set, changed once per turn for every user that came or went in it. */
  readonly #nodeUsers: Batcher<string, void>
  readonly #node: AdapterNode
  readonly #presenceTtl: number
  /** Watched users: their channel -> userId, and how many local watchers each has. */
  readonly #watched = new Map<string, { userId: string, watchers: number }>()
  /** Set at start: the subscriber, and how to publish. */
  sub: Subscriber | undefined
  publishCommand: 'SPUBLISH' | 'PUBLISH' = 'PUBLISH'

  constructor (keys: Keys, health: Health, node: AdapterNode, presenceTtl: number) {
    const nodeId = node.id
    this.#keys = keys
    this.#health = health
    this.#node = node
    this.#presenceTtl = presenceTtl
    this.#nodeUsers = new Batcher<string, void>(async (op, tags) => {
      const key = keys.nodeUsers(nodeId)
      await health.run(async (c) => await (op === 'add' ? c.sadd(key, ...tags) : c.srem(key, ...tags)))
      return tags.map(() => undefined)
    })
  }

  async admit (userId: string, clientId: string, limit: number): Promise<Restriction[] | false> {
    const keys = this.#keys
    const tag = keys.userTag(userId)
    // The user's place here counts from the admission on (until its connection closes, or the
    // admission is refused or cancelled). A user's first goes into this process's set (what a
    // reaper reads if the process dies) with the same wait.
    const first = this.#hold(tag)
    try {
      const [admitted] = await Promise.all([
        this.#health.run(async (c) => await scripts.admit.run(c, [keys.userConnections(tag), keys.userRestrictions(tag), keys.userChannel(tag)], [clientId, limit, this.publishCommand, Date.now()])) as Promise<unknown[]>,
        first ? this.#nodeUsers.add('add', tag) : undefined
      ])
      if (admitted[0] === 1) return restrictionsOf(admitted.slice(1))
    } catch (err) {
      await this.#release(tag).catch(() => {})
      throw err
    }
    await this.#release(tag)
    return false
  }

  /** A connection (or an admission that never opened) is gone; the last open one records lastSeen. */
  async gone (userId: string, clientId: string): Promise<void> {
    const keys = this.#keys
    const tag = keys.userTag(userId)
    await Promise.all([
      this.#health.run(async (c) => await scripts.disconnect.run(c, [keys.userConnections(tag), keys.userSeen(tag), keys.userChannel(tag)],
        [clientId, Date.now(), this.#presenceTtl, this.publishCommand])),
      this.#release(tag)
    ])
  }

  async presence (userIds: string[]): Promise<UserPresence[]> {
    const keys = this.#keys
    return await Promise.all(userIds.map(async (userId) => {
      const tag = keys.userTag(userId)
      const [connections, seen] = await Promise.all([
        this.#health.run(async (c) => await c.zcount(keys.userConnections(tag), '+inf', '+inf')),
        this.#health.run(async (c) => await c.get(keys.userSeen(tag)))
      ])
      if (connections > 0) return { online: true, connections }
      return seen === null ? { online: false, connections: 0 } : { online: false, connections: 0, lastSeen: Number(seen) }
    }))
  }

  async watch (userId: string): Promise<void> {
    const channel = this.#keys.userChannel(this.#keys.userTag(userId))
    const w = this.#watched.get(channel)
    if (w !== undefined) {
      w.watchers++
      return
    }
    this.#watched.set(channel, { userId, watchers: 1 })
    try {
      await this.sub!.subscribe(channel)
    } catch (err) {
      this.#watched.delete(channel)
      throw err
    }
  }

  async unwatch (userId: string): Promise<void> {
    const channel = this.#keys.userChannel(this.#keys.userTag(userId))
    const w = this.#watched.get(channel)
    if (w === undefined) return
    if (--w.watchers > 0) return
    this.#watched.delete(channel)
    await this.sub?.unsubscribe(channel)
  }

  /** A message on a channel: a watched user's presence change (true), or not a user's channel (false). */
  message (channel: string, message: string): boolean {
    const w = this.#watched.get(channel)
    if (w === undefined) return false
    if (message === '1') this.#node.presenceChanged(w.userId, true, undefined)
    else this.#node.presenceChanged(w.userId, false, Number(message.slice(2)))
    return true
  }

  async clientsOf (userId: string): Promise<string[]> {
    return await this.#health.run(async (c) => await c.zrangebyscore(this.#keys.userConnections(this.#keys.userTag(userId)), '+inf', '+inf'))
  }

  /** After an outage: the connections opened meanwhile were admitted here alone; count them again. */
  recount (clients: Iterable<{ userId: string }>): void {
    this.#here.clear()
    for (const { userId } of clients) this.#hold(this.#keys.userTag(userId))
  }

  /** One more admitted or open connection of a user here; true for the first. */
  #hold (tag: string): boolean {
    const n = this.#here.get(tag) ?? 0
    this.#here.set(tag, n + 1)
    return n === 0
  }

  /** One fewer; the last takes the user out of this process's set. */
  async #release (tag: string): Promise<void> {
    const left = (this.#here.get(tag) ?? 1) - 1
    if (left > 0) {
      this.#here.set(tag, left)
      return
    }
    this.#here.delete(tag)
    await this.#nodeUsers.add('remove', tag)
  }
}

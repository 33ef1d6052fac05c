/**
 * Which processes are alive, and what happens to a dead one's members. Every process writes its
 * heartbeat deadline to `nodes` each `heartbeatInterval`; a process past its deadline is dead, and
 * the first live process to take its reaping lock removes its members, room by room, in small
 * steps (REAP_BATCH at a time), so that no step holds Redis more than a few milliseconds, and tells
 * the rooms (`userLeft` with `timeout`). A process whose Redis came back rewrites its own
 * clients and members, room by room, after a random delay, so that many processes coming back at
 * once do not arrive together.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { AdapterNode, LeaveState } from '../contract.js'
import type { Member } from '../../model.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { scripts } from './scripts.js'

/** A member a reaper removed. */
interface LostMember { clientId: string, userId: string, name?: string }

/** Memberships removed by one reaping step (a few hundred µs of Redis's time). */
export const REAP_BATCH = 100
/** How long a reaping lock holds without being renewed, ms. */
const LOCK_MS = 10_000
/** The rewrite after an outage starts within this many ms (at random). */
const REWRITE_JITTER_MS = 1000

export interface LivenessOptions {
  keys: Keys
  health: Health
  node: AdapterNode
  beatEvery: number
  nodeTimeout: number
  /** How long a user's lastSeen is kept, ms. */
  presenceTtl: number
  /** How to publish (known once the subscriber started). */
  publishCommand: () => 'SPUBLISH' | 'PUBLISH'
  /** Writes this process's members of a room back, in the room's order with its other calls. */
  rejoin: (room: string, members: Member[]) => Promise<void>
  log: FastifyBaseLogger
}

export class Liveness {
  readonly #o: LivenessOptions
  #timer: NodeJS.Timeout | undefined
  #live = new Set<string>()
  #reaping = false
  #closed = false

  constructor (options: LivenessOptions) {
    this.#o = options
  }

  /** The first beat (which also reaps the dead of earlier runs), then one every interval. */
  async start (): Promise<void> {
    await this.beat()
    this.#timer = setInterval(() => { void this.beat() }, this.#o.beatEvery).unref()
  }

  /** The processes alive now (this one included): those whose heartbeat deadline has not passed. */
  async live (): Promise<string[]> {
    const { keys, health } = this.#o
    const live = await health.run(async (c) => await c.zrangebyscore(keys.nodes(), Date.now(), '+inf'))
    this.#live = new Set(live)
    return live
  }

  /** Whether a process is alive (asked of Redis unless the last beat saw it). */
  async isLive (node: string): Promise<boolean> {
    if (this.#live.has(node)) return true
    const { keys, health } = this.#o
    const deadline = await health.run(async (c) => await c.zscore(keys.nodes(), node))
    return deadline !== null && Number(deadline) >= Date.now()
  }

  async beat (): Promise<void> {
    if (this.#closed) return
    const { keys, health, node, nodeTimeout } = this.#o
    try {
      const now = Date.now()
      const [live, dead] = await health.run(async (c) => await Promise.all([
        c.zadd(keys.nodes(), now + nodeTimeout, node.id).then(async () => await c.zrangebyscore(keys.nodes(), now, '+inf')),
        c.zrangebyscore(keys.nodes(), '-inf', `(${now}`)
      ]))
      this.#live = new Set(live)
      if (dead.length > 0 && !this.#reaping) {
        this.#reaping = true
        try {
          for (const id of dead) await this.reap(id, 'timeout')
        } finally {
          this.#reaping = false
        }
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'FST_CHAT_UNAVAILABLE') this.#o.log.error({ err }, 'fastify-chat: heartbeat failed')
    }
  }

  /**
   * Removes a process's members (all of them, in small steps) and its connections, under a lock
   * so that one process does it, telling each room (`announce`, by default `node.lost`). Resolves
   * how many memberships it removed.
   */
  async reap (id: string, reason: 'timeout' | 'closed', announce?: (room: string, member: LostMember, state: LeaveState) => void): Promise<number> {
    const { keys, health, node, log } = this.#o
    const owner = `${node.id}:${Date.now()}`
    const locked = await health.run(async (c) => await c.set(keys.reapLock(id), owner, 'PX', LOCK_MS, 'NX'))
    if (locked !== 'OK') return 0
    let removed = 0
    try {
      for (;;) {
        const room = await health.run(async (c) => await c.srandmember(keys.nodeRooms(id)))
        if (room === null) break
        for (;;) {
          const out = await health.run(async (c) => await scripts.reapRoom.run(c, [keys.members(room), keys.nodeMembers(room, id), keys.roomUsers(room), keys.roomNames(room)], [REAP_BATCH])) as Array<string | number>
          const [leftInSet, members, users] = [Number(out[0]), Number(out[1]), Number(out[2])]
          for (let i = 3; i < out.length; i += 3) {
            const m = String(out[i])
            const cut = m.indexOf('\n')
            const lost: LostMember = { clientId: m.slice(0, cut), userId: m.slice(cut + 1) }
            if (out[i + 2] !== '') lost.name = String(out[i + 2])
            const state = { members, users, own: Number(out[i + 1]) }
            if (announce !== undefined) announce(room, lost, state)
            else node.lost(room, lost, state, reason)
            removed++
          }
          if (leftInSet === 0) break
          await health.run(async (c) => await c.pexpire(keys.reapLock(id), LOCK_MS))
        }
        await health.run(async (c) => await c.srem(keys.nodeRooms(id), room))
        if (id !== node.id) await this.#unlistIfEmpty(room)
      }
      for (;;) {
        const users = await health.run(async (c) => await c.spop(keys.nodeUsers(id), REAP_BATCH))
        if (users.length === 0) break
        await Promise.all(users.map(async (user) => await health.run(async (c) => await scripts.reapUser.run(c,
          [keys.userConnections(user), keys.userSeen(user), keys.userChannel(user)], [`${id}.`, Date.now(), this.#o.presenceTtl, this.#o.publishCommand()]))))
      }
      await health.run(async (c) => await c.zrem(keys.nodes(), id))
      if (removed > 0 && id !== node.id) log.info({ node: id, members: removed }, 'fastify-chat: removed the members of a dead process')
      return removed
    } finally {
      await health.run(async (c) => { if (await c.get(keys.reapLock(id)) === owner) await c.del(keys.reapLock(id)) }).catch(() => {})
    }
  }

  /** A room left without members drops out of the index (unless someone joined meanwhile). */
  async #unlistIfEmpty (room: string): Promise<void> {
    const { keys, health } = this.#o
    if (await health.run(async (c) => await c.zcard(keys.members(room))) > 0) return
    await health.run(async (c) => await c.zrem(keys.roomIndex(keys.bucketOf(room)), room))
  }

  /**
   * After an outage: makes Redis hold exactly this process's clients and members again. Whatever
   * Redis still has of this process goes first (the members that left meanwhile are announced),
   * then every local room is written back in batches, one room (one slot) at a time.
   */
  async rewrite (): Promise<void> {
    const { keys, health, node, nodeTimeout } = this.#o
    await new Promise((resolve) => setTimeout(resolve, Math.random() * REWRITE_JITTER_MS))
    if (this.#closed) return
    const present = new Set<string>()
    for (const [room] of node.membership.rooms()) {
      for (const m of node.membership.membersOf(room)!.values()) present.add(`${room}\n${m.clientId}`)
    }
    // What left during the outage is still recorded: reap it as a dead process's, but keep ours.
    const lost: Array<[string, LostMember, LeaveState]> = []
    await this.reap(node.id, 'closed', (room, member, state) => {
      if (!present.has(`${room}\n${member.clientId}`)) lost.push([room, member, state])
    })
    await health.run(async (c) => await c.zadd(keys.nodes(), Date.now() + nodeTimeout, node.id))
    for (const [room] of node.membership.rooms()) {
      await health.run(async (c) => await c.sadd(keys.nodeRooms(node.id), room))
      // Its members as they are when the room's turn comes: a leave asked after this goes after it.
      const members = node.membership.membersOf(room)
      if (members !== undefined) await this.#o.rejoin(room, [...members.values()])
      await health.run(async (c) => await c.zadd(keys.roomIndex(keys.bucketOf(room)), 0, room))
    }
    const users = [...new Set([...node.localClients()].map((c) => keys.userTag(c.userId)))]
    if (users.length > 0) await health.run(async (c) => await c.sadd(keys.nodeUsers(node.id), ...users))
    for (const { clientId, userId } of node.localClients()) {
      await health.run(async (c) => await c.zadd(keys.userConnections(keys.userTag(userId)), 'inf', clientId))
    }
    for (const [room, member, state] of lost) node.lost(room, member, state, 'closed')
  }

  async stop (): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
  }
}

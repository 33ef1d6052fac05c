/**
 * What the Redis adapter writes for a room: memberships, presence frames and messages. Joins,
 * leaves and messages of one room within one event-loop turn go in one script call (batcher.ts);
 * a process subscribes to a room's channel while it has members there.
 */
import type { AdapterNode, LeaveState, MessageDraft, Published, Revision, RoomState, StoredFrame } from '../contract.js'
import { newEpoch } from '../epoch.js'
import type { Member } from '../../model.js'
import { Batcher } from './batcher.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import type { Subscriber } from './pubsub.js'
import { scripts } from './scripts.js'
import type { Topology } from './topology.js'

/** The `except` of a signal's record on a room's channel. */
export const SIGNAL = '\u0001'

export class RoomWrites {
  readonly #keys: Keys
  readonly #health: Health
  readonly #node: AdapterNode
  readonly #topology: Topology
  readonly #subscribing = new Map<string, Promise<void>>()
  readonly #joins = new Batcher<Member, RoomState & { added: boolean }>(async (room, members) => await this.#joinMany(room, members))
  readonly #leaves = new Batcher<Member, LeaveState>(async (room, members) => await this.#leaveMany(room, members))
  readonly #messages = new Batcher<MessageDraft, Published>(async (room, drafts) => await this.#publishMany(room, drafts))
  /** Set at start: the subscriber, and how to publish (SPUBLISH on Redis 7 and clusters). */
  sub: Subscriber | undefined
  publishCommand: 'SPUBLISH' | 'PUBLISH' = 'PUBLISH'

  constructor (keys: Keys, health: Health, node: AdapterNode, topology: Topology) {
    this.#keys = keys
    this.#health = health
    this.#node = node
    this.#topology = topology
  }

  async join (room: string, member: Member): Promise<RoomState> {
    const keys = this.#keys
    // The first local member: subscribe (before the membership is visible, so that nothing
    // published after it is missed) and record the room as one this process must be reaped from.
    let first = this.#subscribing.get(room)
    if (first === undefined && this.#node.membership.count(room) === 1) {
      this.#topology.watch(room)
      first = Promise.all([
        this.sub!.subscribe(keys.roomChannel(room)),
        this.#health.run(async (c) => await c.sadd(keys.nodeRooms(this.#node.id), room))
      ]).then(() => {})
      this.#subscribing.set(room, first)
      first.finally(() => { if (this.#subscribing.get(room) === first) this.#subscribing.delete(room) }).catch(() => {})
    }
    if (first !== undefined) await first
    const { members, users, own, seq, epoch } = await this.#joins.add(room, member)
    return { members, users, own, seq, epoch }
  }

  /** One round trip for a room's joins of this turn. */
  async #joinMany (room: string, members: Member[]): Promise<Array<RoomState & { added: boolean }>> {
    const keys = this.#keys
    const args: Array<string | number> = [newEpoch(), this.#node.history.ttl]
    for (const m of members) args.push(...joinArgs(m))
    const [count, seq, epoch, users, ...each] = await this.#health.run(async (c) => await scripts.join.run(c, joinKeys(keys, room, this.#node.id), args)) as [number, number, string, number, ...number[]]
    const added = members.map((_, i) => each[2 * i] === 1)
    // A room that had no members enters the index.
    if (added.some((a) => a) && count === added.filter((a) => a).length) {
      void this.#health.run(async (c) => await c.zadd(keys.roomIndex(keys.bucketOf(room)), 0, room)).catch(() => {})
    }
    return members.map((_, i) => ({ members: count, users, own: each[2 * i + 1], seq, epoch, added: added[i] }))
  }

  async #leaveMany (room: string, members: Member[]): Promise<LeaveState[]> {
    const keys = this.#keys
    const args = members.flatMap((m) => [`${m.clientId}\n${m.userId}`, m.userId])
    const [count, users, ...own] = await this.#health.run(async (c) => await scripts.leave.run(c, [keys.members(room), keys.nodeMembers(room, this.#node.id), keys.roomUsers(room), keys.roomNames(room)], args)) as number[]
    return members.map((_, i) => ({ members: count, users, own: own[i] }))
  }

  async leave (room: string, member: Member): Promise<LeaveState> {
    const keys = this.#keys
    const state = await this.#leaves.add(room, member)
    const count = state.members
    if (this.#node.membership.count(room) === 0) {
      await this.sub?.unsubscribe(keys.roomChannel(room))
      void this.#health.run(async (c) => await c.srem(keys.nodeRooms(this.#node.id), room)).catch(() => {})
    }
    if (count === 0) void this.#unlist(room)
    return state
  }

  /** An empty room leaves the index; if someone joined meanwhile, it goes back in. */
  async #unlist (room: string): Promise<void> {
    const index = this.#keys.roomIndex(this.#keys.bucketOf(room))
    try {
      await this.#health.run(async (c) => await c.zrem(index, room))
      if (await this.#health.run(async (c) => await c.zcard(this.#keys.members(room))) > 0) {
        await this.#health.run(async (c) => await c.zadd(index, 0, room))
      }
    } catch {}
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    await this.#health.run(async (c) => await c.call(this.publishCommand, this.#keys.roomChannel(room), `${except ?? ''}\n\n\n${frame}`))
  }

  /**
   * A signal rides the room's channel as a record whose `except` is SIGNAL (no clientId is) and
   * whose second line names the sending process, which skips its own.
   */
  async signal (room: string, data: string): Promise<void> {
    await this.#health.run(async (c) => await c.call(this.publishCommand, this.#keys.roomChannel(room), `${SIGNAL}\n${this.#node.id}\n\n${data}`))
  }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    return await this.#messages.add(room, draft)
  }

  /** One round trip for a room's messages of this turn: seqs in order, one publish for all. */
  async #publishMany (room: string, drafts: MessageDraft[]): Promise<Published[]> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const k = [keys.meta(room), keys.history(room), keys.roomChannel(room), keys.versions(room)]
    const args: Array<string | number> = [newEpoch(), 2 * size, ttl, Date.now(), this.publishCommand]
    for (const d of drafts) {
      let index = 0
      if (d.dedupe !== undefined) index = k.push(keys.dedupe(room, d.dedupe))
      args.push(d.head, d.mid, d.tail, d.id, index, d.digest ?? '')
    }
    const results = await this.#health.run(async (c) => await scripts.messages.run(c, k, args)) as Array<[number, string] | [number, number, string]>
    return results.map((result, i) => {
      const draft = drafts[i]
      if (result[0] === 0) {
        // "<id> <seq> <epoch> <digest>" of the first send
        const [id, seq, epoch, digest = ''] = String(result[1]).split(' ')
        return { status: digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id, seq: Number(seq), epoch }
      }
      return { status: 'sent', id: draft.id, seq: Number(result[1]), epoch: String(result[2]) }
    })
  }

  /** Events a store numbered: one script call keeps them (in seq order) and publishes them. */
  async publishStored (room: string, epoch: string, events: StoredFrame[]): Promise<void> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const args: Array<string | number> = [epoch, 2 * size, ttl, Date.now(), this.publishCommand]
    for (const e of events) {
      const r = e.revises
      args.push(e.seq, e.text, e.id ?? '', r?.seq ?? '', r === undefined ? '' : (r.deleted ? 'd' : 'e') + r.text)
    }
    await this.#health.run(async (c) => await scripts.stored.run(c, [keys.meta(room), keys.history(room), keys.versions(room), keys.roomChannel(room)], args))
  }

  /** An edit or deletion numbered here (no store): null when the message is no longer held. */
  async revise (room: string, r: Revision): Promise<Published | null> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const result = await this.#health.run(async (c) => await scripts.revise.run(c,
      [keys.meta(room), keys.history(room), keys.versions(room), keys.roomChannel(room)],
      [r.epoch, r.seq, (r.deleted ? 'd' : 'e') + r.version, r.head, r.mid, r.tail, Date.now(), 2 * size, ttl, this.publishCommand])) as [number, string] | null
    return result === null ? null : { status: 'sent', id: '', seq: Number(result[0]), epoch: String(result[1]) }
  }
}

/** The JOIN script's keys for a room, joined from process `node`. */
export function joinKeys (keys: Keys, room: string, node: string): string[] {
  return [keys.members(room), keys.meta(room), keys.nodeMembers(room, node), keys.roomUsers(room), keys.roomNames(room)]
}

/** The JOIN script's arguments for one joiner. */
export function joinArgs (m: Member): Array<string | number> {
  return [`${m.clientId}\n${m.userId}`, m.joinedAt, m.userId, m.name ?? '']
}

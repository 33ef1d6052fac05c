/**
 * What the Redis adapter writes for a room: memberships, presence frames and messages. Joins,
 * leaves, messages, edits and deletions and a store's events of one room go to Redis one call at
 * a time, in the order asked, a turn's requests of one kind in one call (room-lane.ts); a process
 * subscribes to a room's channel while it has members there.
 */
import type { AdapterNode, LeaveState, MessageDraft, Published, Revision, RoomState, StoredFrame } from '../contract.js'
import { newEpoch } from '../epoch.js'
import type { Member } from '../../model.js'
import type { Health } from './health.js'
import type { Keys } from './keys.js'
import { RoomLanes, type Call } from './room-lane.js'
import type { Subscriber } from './pubsub.js'
import { scripts } from './scripts.js'
import type { Topology } from './topology.js'

/** The `except` of a signal's record on a room's channel. */
export const SIGNAL = '\u0001'

/** How long after publishing to a room this process must have heard it back, ms (see #expectEcho). */
const ECHO_MS = 3000

export class RoomWrites {
  readonly #keys: Keys
  readonly #health: Health
  readonly #node: AdapterNode
  readonly #topology: Topology
  readonly #subscribing = new Map<string, Promise<void>>()
  readonly #lanes = new RoomLanes()
  readonly #joins = this.#lanes.kind<Member, RoomState & { added: boolean }>('join', (room, members, since) => this.#joinMany(room, members, since))
  readonly #leaves = this.#lanes.kind<Member, LeaveState>('leave', (room, members, since) => this.#leaveMany(room, members, since))
  readonly #messages = this.#lanes.kind<MessageDraft, Published>('message', (room, drafts, since) => this.#publishMany(room, drafts, since))
  readonly #stored = this.#lanes.kind<{ epoch: string, events: StoredFrame[] }, void>('stored', (room, items, since) => this.#storeMany(room, items, since))
  readonly #revisions = this.#lanes.kind<Revision, Published | null>('revise', (room, [r], since) => this.#revise(room, r, since))
  #revisionsMade = 0
  /** Rooms this process published to: the newest seq it must hear back, checked ECHO_MS later. */
  readonly #echoes = new Map<string, { seq: number, epoch: string, timer: NodeJS.Timeout }>()
  /** Ids of this process's message and change calls (their guard: done once if sent twice). */
  #calls = 0
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
    // published after it is missed: its call waits for it, in its place in the room's lane) and
    // record the room as one this process must be reaped from.
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
    const { members, users, own, seq, epoch } = await this.#joins(room, member)
    return { members, users, own, seq, epoch }
  }

  /**
   * After an outage: this process's members of a room written back, in the room's order (a leave
   * asked after this does not come before it). The JOIN script is idempotent.
   */
  async rejoin (room: string, members: Member[]): Promise<void> {
    await Promise.all(members.map(async (m) => await this.#joins(room, m)))
  }

  /**
   * One round trip for a room's joins (idempotent: a member already in is not added again), once
   * the room's subscription, if one is on its way, is done.
   */
  #joinMany (room: string, members: Member[], since: number): Call<RoomState & { added: boolean }> {
    const subscribing = this.#subscribing.get(room)
    if (subscribing === undefined) return this.#sendJoins(room, members, since)
    const call = subscribing.then(() => this.#sendJoins(room, members, since))
    return { answer: call.then(async (c) => await c.answer), settled: call.then(async (c) => await c.settled, () => {}) }
  }

  #sendJoins (room: string, members: Member[], since: number): Call<RoomState & { added: boolean }> {
    const keys = this.#keys
    const args: Array<string | number> = [newEpoch(), this.#node.history.ttl]
    for (const m of members) args.push(...joinArgs(m))
    const call = this.#health.start(async (c) => await scripts.join.run(c, joinKeys(keys, room, this.#node.id), args) as [number, number, string, number, ...number[]], since)
    return {
      settled: call.settled,
      answer: call.answer.then(([count, seq, epoch, users, ...each]) => {
        const added = members.map((_, i) => each[2 * i] === 1)
        // A room that had no members enters the index.
        if (added.some((a) => a) && count === added.filter((a) => a).length) {
          void this.#health.run(async (c) => await c.zadd(keys.roomIndex(keys.bucketOf(room)), 0, room)).catch(() => {})
        }
        return members.map((_, i) => ({ members: count, users, own: each[2 * i + 1], seq, epoch, added: added[i] }))
      })
    }
  }

  /** One round trip for a room's leaves (idempotent: a member already gone is not counted twice). */
  #leaveMany (room: string, members: Member[], since: number): Call<LeaveState> {
    const keys = this.#keys
    const args = members.flatMap((m) => [`${m.clientId}\n${m.userId}`, m.userId])
    const call = this.#health.start(async (c) => await scripts.leave.run(c, [keys.members(room), keys.nodeMembers(room, this.#node.id), keys.roomUsers(room), keys.roomNames(room)], args) as number[], since)
    return { settled: call.settled, answer: call.answer.then(([count, users, ...own]) => members.map((_, i) => ({ members: count, users, own: own[i] }))) }
  }

  async leave (room: string, member: Member): Promise<LeaveState> {
    const keys = this.#keys
    const state = await this.#leaves(room, member)
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
    return await this.#messages(room, draft)
  }

  /** One round trip for a room's messages: seqs in order, one publish for all. */
  #publishMany (room: string, drafts: MessageDraft[], since: number): Call<Published> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const k = [keys.meta(room), keys.history(room), keys.roomChannel(room), keys.versions(room)]
    // Messages with a ref are done once by their dedupe keys: a call of only those needs no guard.
    const guarded = drafts.some((d) => d.dedupe === undefined)
    const args: Array<string | number> = [newEpoch(), 2 * size, ttl, Date.now(), this.publishCommand, this.#node.id, guarded ? this.#calls++ : '']
    for (const d of drafts) {
      let index = 0
      if (d.dedupe !== undefined) index = k.push(keys.dedupe(room, d.dedupe))
      args.push(d.head, d.mid, d.tail, d.id, index, d.digest ?? '')
    }
    const call = this.#health.start(async (c) => await scripts.messages.run(c, k, args) as string, since)
    return {
      settled: call.settled,
      answer: call.answer.then((lines) => lines.split('\n').map((line, i): Published => {
        const draft = drafts[i]
        const parts = line.split(' ')
        // "1 <seq> <epoch>"
        if (parts[0] === '1') return { status: 'sent', id: draft.id, seq: Number(parts[1]), epoch: parts[2] }
        // "0 <id> <seq> <epoch> <digest>": what the first send with its ref stored
        const [, id, seq, epoch, digest = ''] = parts
        return { status: digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id, seq: Number(seq), epoch }
      })).then((results) => {
        const last = results.at(-1)
        if (last !== undefined) this.#expectEcho(room, Math.max(...results.map((r) => r.seq)), last.epoch)
        return results
      })
    }
  }

  /**
   * What this process published to a room it has members in comes back to it through its own
   * subscription: one that has not, ECHO_MS later, shows a subscription that did not survive a
   * failover or a reconnect (nothing else would tell: no later frame shows the hole). The channel
   * is subscribed again and the room reads back what it missed.
   */
  #expectEcho (room: string, seq: number, epoch: string): void {
    const pending = this.#echoes.get(room)
    if (pending !== undefined) {
      if (pending.epoch !== epoch || seq > pending.seq) Object.assign(pending, { seq, epoch })
      return
    }
    const timer = setTimeout(() => this.#checkEcho(room), ECHO_MS).unref()
    this.#echoes.set(room, { seq, epoch, timer })
  }

  #checkEcho (room: string): void {
    const pending = this.#echoes.get(room)
    this.#echoes.delete(room)
    if (pending === undefined || this.#node.membership.count(room) === 0) return
    const at = this.#node.position(room)
    if (at !== undefined && (at.epoch !== pending.epoch || at.seq >= pending.seq)) return
    this.#node.log.warn({ room, published: pending.seq, heard: at?.seq }, 'fastify-chat: a room this process published to was not heard back; subscribing again and reading what it missed')
    void this.sub?.recheck(this.#keys.roomChannel(room))
    this.#node.resync(room)
  }

  /** Forgets the rooms waiting for their echo. */
  close (): void {
    for (const { timer } of this.#echoes.values()) clearTimeout(timer)
    this.#echoes.clear()
  }

  /** Events a store numbered, kept (in seq order) and published: a room's of one epoch in one call. */
  async publishStored (room: string, epoch: string, events: StoredFrame[]): Promise<void> {
    await this.#stored(room, { epoch, events }, `stored\n${epoch}`)
  }

  #storeMany (room: string, items: Array<{ epoch: string, events: StoredFrame[] }>, since: number): Call<void> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const args: Array<string | number> = [items[0].epoch, 2 * size, ttl, Date.now(), this.publishCommand]
    for (const { events } of items) {
      for (const e of events) {
        const r = e.revises
        args.push(e.seq, e.text, e.id ?? '', r?.seq ?? '', r === undefined ? '' : (r.deleted ? 'd' : 'e') + r.text)
      }
    }
    const call = this.#health.start(async (c) => await scripts.stored.run(c, [keys.meta(room), keys.history(room), keys.versions(room), keys.roomChannel(room)], args), since)
    return {
      settled: call.settled,
      answer: call.answer.then(() => {
        const seqs = items.flatMap((i) => i.events.map((e) => e.seq))
        if (seqs.length > 0) this.#expectEcho(room, Math.max(...seqs), items[0].epoch)
        return items.map(() => undefined)
      })
    }
  }

  /** An edit or deletion numbered here (no store): null when the message is no longer held. */
  async revise (room: string, r: Revision): Promise<Published | null> {
    // Each in a call of its own (the script takes one), in the room's order.
    return await this.#revisions(room, r, `revise\n${this.#revisionsMade++}`)
  }

  #revise (room: string, r: Revision, since: number): Call<Published | null> {
    const keys = this.#keys
    const { size, ttl } = this.#node.history
    const call = this.#health.start(async (c) => await scripts.revise.run(c,
      [keys.meta(room), keys.history(room), keys.versions(room), keys.roomChannel(room)],
      [r.epoch, r.seq, (r.deleted ? 'd' : 'e') + r.version, r.head, r.mid, r.tail, Date.now(), 2 * size, ttl, this.publishCommand, this.#node.id, this.#calls++]) as string, since)
    // "<seq> <epoch>", or '' when nothing was done
    return { settled: call.settled, answer: call.answer.then((result) => [result === '' ? null : { status: 'sent', id: '', seq: Number(result.slice(0, result.indexOf(' '))), epoch: result.slice(result.indexOf(' ') + 1) }]) }
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

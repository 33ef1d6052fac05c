/**
 * What the memory adapter's nodes share: the rooms' sequence and history, the dedupe table, the
 * tickets and the nodes themselves. One process alone gets a bus of its own; several Fastify
 * instances in one process (a host's tests, the contract suite) can share one with
 * `createMemoryBus()` and behave as processes of one chat: cluster-wide counts, delivery to every
 * node, commands to the node holding a client, summed stats. Each node's own membership is the
 * truth for its members, so nothing is held twice.
 */
import type { AdapterNode } from './contract.js'
import { Dedupe } from './memory-dedupe.js'
import { MemoryHistory } from './memory-history.js'
import { MemoryRestrictions } from './memory-restrictions.js'
import { memoryTicketStore } from './tickets.js'
import { NO_PAIRS, pairDelete, pairEntries, pairGet, pairSet, type Pairs } from './small-map.js'

/** Most remembered (user, room, ref) sends: bounds the dedupe table's memory. */
const MAX_DEDUPE = 100_000
/** Most remembered last-seen times (the oldest go first). */
const MAX_SEEN = 1_000_000

/**
 * What the bus keeps of one user: its connections across the nodes (clientId -> until, ms;
 * Infinity once open) and its read markers (room -> seq), as flat pairs: one map entry and one
 * small object per user, not a map and an object for each.
 */
class Person {
  conns: Pairs = NO_PAIRS
  markers: Pairs = NO_PAIRS
}

export class MemoryBus {
  readonly #nodes = new Set<AdapterNode>()
  /** Each user's connections and read markers; a user with neither is not kept. */
  readonly #people = new Map<string, Person>()
  readonly tickets = memoryTicketStore()
  readonly restrictions = new MemoryRestrictions()
  /** When each user's last connection closed, for this process's life. */
  readonly #seen = new Map<string, number>()
  /** Direct conversations: room -> its two participants; user -> room -> the other. */
  readonly #direct = new Map<string, [string, string]>()
  readonly #directOf = new Map<string, Map<string, string>>()
  /** New conversations each user started in the minute since the first of them (for `perMinute`). */
  readonly #started = new Map<string, { since: number, n: number }>()
  /** Who hears of each user's presence changes: node -> how many of its watchers. */
  readonly #watchers = new Map<string, Map<AdapterNode, number>>()
  #history: MemoryHistory | undefined
  #dedupe: Dedupe | undefined
  #sweep: NodeJS.Timeout | undefined

  /** A node joins; the first one's history limits apply to the bus. */
  attach (node: AdapterNode): void {
    if (this.#history === undefined) {
      const { size, ttl, maxBytes } = node.history
      this.#history = new MemoryHistory(size, ttl, maxBytes)
      this.#dedupe = new Dedupe(ttl, MAX_DEDUPE)
      // Expiry also happens on every read and write; the sweep frees rooms nobody touches.
      this.#sweep = setInterval(() => this.#history?.sweep(Date.now()), Math.min(ttl, 60_000)).unref()
    }
    this.#nodes.add(node)
  }

  /** A node leaves; with the last one, everything is forgotten. */
  detach (node: AdapterNode): void {
    this.#nodes.delete(node)
    const now = Date.now()
    for (const [userId, person] of this.#people) {
      const before = openCount(person.conns)
      for (const [clientId] of pairEntries<string, number>(person.conns)) {
        if (clientId.startsWith(`${node.id}.`)) person.conns = pairDelete(person.conns, clientId)
      }
      if (before > 0 && openCount(person.conns) === 0) this.#offline(userId, now)
      this.#forgetIfEmpty(userId, person)
    }
    for (const [userId, nodes] of this.#watchers) if (nodes.delete(node) && nodes.size === 0) this.#watchers.delete(userId)
    if (this.#nodes.size > 0) return
    clearInterval(this.#sweep)
    this.#history?.clear()
    this.#dedupe?.clear()
    this.tickets.clear()
    this.restrictions.clear()
    this.#seen.clear()
    this.#watchers.clear()
    this.#direct.clear()
    this.#directOf.clear()
    this.#started.clear()
    this.#people.clear()
    this.#history = undefined
    this.#dedupe = undefined
  }

  get nodes (): ReadonlySet<AdapterNode> {
    return this.#nodes
  }

  get history (): MemoryHistory {
    if (this.#history === undefined) throw new Error('MemoryBus used with no node attached')
    return this.#history
  }

  get dedupe (): Dedupe {
    if (this.#dedupe === undefined) throw new Error('MemoryBus used with no node attached')
    return this.#dedupe
  }

  #person (userId: string): Person {
    let person = this.#people.get(userId)
    if (person === undefined) this.#people.set(userId, person = new Person())
    return person
  }

  #forgetIfEmpty (userId: string, person: Person): void {
    if (person.conns.length === 0 && person.markers.length === 0) this.#people.delete(userId)
  }

  /** Reserves a connection for a user within `limit` across the nodes, until `until`. */
  admit (userId: string, clientId: string, limit: number, until: number, now: number): boolean {
    const person = this.#person(userId)
    for (const [id, expires] of pairEntries<string, number>(person.conns)) if (expires < now) person.conns = pairDelete(person.conns, id)
    if (person.conns.length >> 1 >= limit && pairGet(person.conns, clientId) === undefined) {
      this.#forgetIfEmpty(userId, person)
      return false
    }
    person.conns = pairSet(person.conns, clientId, until)
    return true
  }

  hold (clientId: string, userId: string): void {
    const person = this.#person(userId)
    const first = openCount(person.conns) === 0
    person.conns = pairSet(person.conns, clientId, Infinity)
    if (first) this.#tell(userId, true, undefined)
  }

  release (clientId: string, userId: string): void {
    const person = this.#people.get(userId)
    if (person === undefined) return
    const wasOpen = pairGet(person.conns, clientId) === Infinity
    person.conns = pairDelete(person.conns, clientId)
    if (wasOpen && openCount(person.conns) === 0) this.#offline(userId, Date.now())
    this.#forgetIfEmpty(userId, person)
  }

  /** A user's read markers (room -> seq), as pairs. */
  markersOf (userId: string): Pairs {
    return this.#people.get(userId)?.markers ?? NO_PAIRS
  }

  /** Sets a user's marker in a room. */
  setMarker (userId: string, room: string, seq: number): void {
    const person = this.#person(userId)
    person.markers = pairSet(person.markers, room, seq)
  }

  /** A user's presence: its open connections on every node, and when its last one closed. */
  presence (userId: string): { online: boolean, connections: number, lastSeen?: number } {
    const connections = openCount(this.#people.get(userId)?.conns ?? NO_PAIRS)
    if (connections > 0) return { online: true, connections }
    const lastSeen = this.#seen.get(userId)
    return lastSeen === undefined ? { online: false, connections } : { online: false, connections, lastSeen }
  }

  watch (userId: string, node: AdapterNode): void {
    let nodes = this.#watchers.get(userId)
    if (nodes === undefined) this.#watchers.set(userId, nodes = new Map())
    nodes.set(node, (nodes.get(node) ?? 0) + 1)
  }

  unwatch (userId: string, node: AdapterNode): void {
    const nodes = this.#watchers.get(userId)
    const n = (nodes?.get(node) ?? 0) - 1
    if (n > 0) nodes!.set(node, n)
    else if (nodes?.delete(node) === true && nodes.size === 0) this.#watchers.delete(userId)
  }

  /** Records a conversation, unless `a` started `perMinute` new ones in the minute since its first of them (false). */
  startConversation (room: string, a: string, b: string, perMinute: number | undefined, now: number): boolean {
    if (this.#directOf.get(a)?.has(room) === true) return true
    if (perMinute !== undefined) {
      const window = this.#started.get(a)
      const current = window !== undefined && window.since > now - 60_000 ? window : { since: now, n: 0 }
      if (++current.n > perMinute) return false
      // Re-inserted: the oldest windows stay at the front, where the bound drops them.
      this.#started.delete(a)
      this.#started.set(a, current)
      if (this.#started.size > MAX_SEEN) this.#started.delete(this.#started.keys().next().value as string)
    }
    if (!this.#direct.has(room)) this.#direct.set(room, a < b ? [a, b] : [b, a])
    for (const [me, other] of [[a, b], [b, a]]) {
      let mine = this.#directOf.get(me)
      if (mine === undefined) this.#directOf.set(me, mine = new Map())
      mine.set(room, other)
    }
    return true
  }

  participants (room: string): [string, string] | null {
    return this.#direct.get(room) ?? null
  }

  conversationsOf (userId: string): Array<{ room: string, with: string }> {
    return [...this.#directOf.get(userId) ?? []].map(([room, other]) => ({ room, with: other }))
  }

  #offline (userId: string, now: number): void {
    this.#seen.delete(userId)
    this.#seen.set(userId, now)
    if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.keys().next().value as string)
    this.#tell(userId, false, now)
  }

  #tell (userId: string, online: boolean, lastSeen: number | undefined): void {
    for (const node of this.#watchers.get(userId)?.keys() ?? []) node.presenceChanged(userId, online, lastSeen)
  }

  /** Every connection of a user on any node: open, or admitted and still opening (a ban must reach those too). */
  clientsOf (userId: string, now = Date.now()): string[] {
    const out = []
    for (const [clientId, until] of pairEntries<string, number>(this.#people.get(userId)?.conns ?? NO_PAIRS)) if (until >= now) out.push(clientId)
    return out
  }

  /**
   * The node a client is on: a clientId starts with its node's id and a dot, so no map from
   * clients to nodes is kept (the node says whether the client is still there).
   */
  holder (clientId: string): AdapterNode | undefined {
    const dot = clientId.indexOf('.')
    if (dot === -1) return undefined
    const id = clientId.slice(0, dot)
    for (const node of this.#nodes) if (node.id === id) return node
    return undefined
  }

  /** Members of a room across every node. */
  count (room: string): number {
    let n = 0
    for (const node of this.#nodes) n += node.membership.count(room)
    return n
  }

  /** A user's connections in a room across every node. */
  userCount (room: string, userId: string): number {
    let n = 0
    for (const node of this.#nodes) n += node.membership.userCount(room, userId)
    return n
  }

  /** Distinct users of a room across every node. */
  users (room: string): number {
    if (this.#nodes.size === 1) return (this.#nodes.values().next().value as AdapterNode).membership.usersOf(room)?.size ?? 0
    const all = new Set<string>()
    for (const node of this.#nodes) for (const u of node.membership.usersOf(room)?.keys() ?? []) all.add(u)
    return all.size
  }

  /** A room's signal to every other node with members in it. */
  signal (room: string, data: string, from: AdapterNode): void {
    for (const node of this.#nodes) if (node !== from && node.membership.count(room) > 0) node.signal(room, data)
  }

  /** Delivers to every node with members in the room (each delivers once to its members). */
  deliver (room: string, frame: string, except?: string, seq?: number, epoch?: string): void {
    for (const node of this.#nodes) {
      if (node.membership.count(room) > 0) node.deliver(room, frame, except, seq, epoch)
    }
  }
}

/** Open connections among a user's connections and reservations. */
function openCount (conns: Pairs): number {
  let n = 0
  for (let i = 1; i < conns.length; i += 2) if (conns[i] === Infinity) n++
  return n
}

/**
 * A bus for several memory nodes in one process: pass the same one to each instance's
 * `memoryAdapter({ bus })` and they form one chat, as processes on Redis would.
 */
export function createMemoryBus (): MemoryBus {
  return new MemoryBus()
}

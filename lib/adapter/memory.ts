/**
 * The memory adapter, the default: one process's chat lives in its memory (history bounded, see
 * `MemoryHistory`). Several instances in one process may share a `MemoryBus` and form one chat.
 */
import type {
  AdapterFactory, AdapterNode, ChatAdapter, HeldMessage, LeaveState, Marker, MemberPage, Unread, UserPresence, MessageDraft, Page, Published, RemoteCommand, RemoteResult, Resume, Revision, RoomPage, RoomState, StoredFrame
} from './contract.js'
import { ROOM_REGEXP } from '../constants.js'
import { FST_CHAT_INVALID_OPTION, FST_CHAT_INVALID_PAGE } from '../errors.js'
import { MAX_PAGE } from '../page-cursor.js'
import { MemoryBus } from './memory-bus.js'
import { pairEntries, pairGet } from './small-map.js'
import type { ChatStats, Member, MemberInfo, Restriction, RestrictionKind, RoomInfo } from '../model.js'
import type { TicketStore } from './tickets.js'

/** How long an admitted connection may take to open before its place lapses, ms. */
const RESERVATION_MS = 30_000

/** A members cursor: where the last member given stood (its join time and id). */
function memberCursor (m: MemberInfo): string {
  return `${m.joinedAt}:${m.clientId}`
}

/** The index after the member a cursor names (or after where it stood, if it has left). */
function afterMember (list: MemberInfo[], cursor: string): number {
  const at = cursor.indexOf(':')
  const joinedAt = Number(cursor.slice(0, at))
  const clientId = cursor.slice(at + 1)
  if (at < 1 || !Number.isSafeInteger(joinedAt) || joinedAt < 0 || clientId === '') throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
  const i = list.findIndex((m) => m.joinedAt > joinedAt || (m.joinedAt === joinedAt && m.clientId === clientId))
  if (i === -1) return list.length
  return list[i].clientId === clientId ? i + 1 : i
}

/** Code-unit order, as documented: not localeCompare, which depends on the host's locale. */
function byName (a: RoomInfo, b: RoomInfo): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

export class MemoryAdapter implements ChatAdapter {
  readonly name = 'memory'
  readonly tickets: TicketStore
  readonly #node: AdapterNode
  readonly #bus: MemoryBus

  constructor (node: AdapterNode, bus: MemoryBus) {
    this.#node = node
    this.#bus = bus
    this.tickets = bus.tickets
    bus.attach(node)
  }

  async admit (userId: string, clientId: string, limit: number): Promise<Restriction[] | false> {
    const now = Date.now()
    return this.#bus.admit(userId, clientId, limit, now + RESERVATION_MS, now) && this.#bus.restrictions.of(userId, now)
  }

  async restrict (restriction: Restriction): Promise<void> {
    this.#bus.restrictions.restrict(restriction)
  }

  async lift (kind: RestrictionKind, userId: string, room: string | undefined): Promise<boolean> {
    return this.#bus.restrictions.lift(kind, userId, room)
  }

  async restrictions (kind: RestrictionKind, room: string): Promise<Restriction[]> {
    return this.#bus.restrictions.inRoom(kind, room)
  }

  async userRestrictions (userId: string): Promise<Restriction[]> {
    return this.#bus.restrictions.of(userId)
  }

  async clientsOf (userId: string): Promise<string[]> {
    return this.#bus.clientsOf(userId)
  }

  async presence (userIds: string[]): Promise<UserPresence[]> {
    return userIds.map((u) => this.#bus.presence(u))
  }

  async watch (userId: string): Promise<void> {
    this.#bus.watch(userId, this.#node)
  }

  async unwatch (userId: string): Promise<void> {
    this.#bus.unwatch(userId, this.#node)
  }

  async startConversation (room: string, a: string, b: string, perMinute?: number): Promise<boolean> {
    return this.#bus.startConversation(room, a, b, perMinute, Date.now())
  }

  async participants (room: string): Promise<[string, string] | null> {
    return this.#bus.participants(room)
  }

  async conversations (userId: string): Promise<Array<{ room: string, with: string, seq: number }>> {
    const now = Date.now()
    return this.#bus.conversationsOf(userId).map((c) => ({ ...c, seq: this.#bus.history.state(c.room, now).seq }))
  }

  async readMarkers (userId: string, rooms?: string[]): Promise<Map<string, number>> {
    const mine = this.#bus.markersOf(userId)
    if (rooms === undefined) return new Map(pairEntries<string, number>(mine))
    const found = new Map<string, number>()
    for (const room of rooms) {
      const seq = pairGet<number>(mine, room)
      if (seq !== undefined) found.set(room, seq)
    }
    return found
  }

  async markRead (userId: string, room: string, seq: number, init = false): Promise<Marker> {
    const now = pairGet<number>(this.#bus.markersOf(userId), room)
    if (now !== undefined && (init || now >= seq)) return { seq: now, moved: false }
    this.#bus.setMarker(userId, room, seq)
    return { seq, moved: true }
  }

  async unread (room: string, userId: string, after: number, cap: number): Promise<Unread> {
    return this.#bus.history.unread(room, after, JSON.stringify(userId), cap, Date.now())
  }

  async cancelAdmission (userId: string, clientId: string): Promise<void> {
    this.#bus.release(clientId, userId)
  }

  async connect (clientId: string, userId: string): Promise<void> {
    this.#bus.hold(clientId, userId)
  }

  async disconnect (clientId: string, userId: string): Promise<void> {
    this.#bus.release(clientId, userId)
  }

  async join (room: string, member: Member): Promise<RoomState> {
    const { seq, epoch } = this.#bus.history.state(room, Date.now())
    const bus = this.#bus
    return { members: bus.count(room), users: bus.users(room), own: bus.userCount(room, member.userId), seq, epoch }
  }

  async leave (room: string, member: Member): Promise<LeaveState> {
    const bus = this.#bus
    return { members: bus.count(room), users: bus.users(room), own: bus.userCount(room, member.userId) }
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    this.#bus.deliver(room, frame, except)
  }

  async signal (room: string, data: string): Promise<void> {
    this.#bus.signal(room, data, this.#node)
  }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    const now = Date.now()
    const dedupe = this.#bus.dedupe
    if (draft.dedupe !== undefined) {
      const sent = dedupe.get(draft.dedupe, now)
      if (sent !== undefined) {
        return { status: sent.digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id: sent.id, seq: sent.seq, epoch: sent.epoch }
      }
    }
    const stored = this.#bus.history.append(room, now, (seq, epoch) => draft.head + seq + draft.mid + epoch + draft.tail, { id: draft.id })
    if (draft.dedupe !== undefined) dedupe.set(draft.dedupe, { id: draft.id, seq: stored.seq, epoch: stored.epoch, digest: draft.digest ?? '' }, now)
    this.#bus.deliver(room, stored.text, undefined, stored.seq, stored.epoch)
    return { status: 'sent', id: draft.id, seq: stored.seq, epoch: stored.epoch }
  }

  async publishStored (room: string, epoch: string, events: StoredFrame[]): Promise<void> {
    const now = Date.now()
    const history = this.#bus.history
    for (const e of events) {
      history.put(room, epoch, e.seq, e.text, now, e.id !== undefined ? { id: e.id } : { change: true, of: e.revises?.seq ?? 0 })
      if (e.revises !== undefined) history.revise(room, epoch, e.revises.seq, e.revises.text, e.revises.deleted)
    }
    for (const e of events) this.#bus.deliver(room, e.text, undefined, e.seq, epoch)
  }

  async revise (room: string, r: Revision): Promise<Published | null> {
    const history = this.#bus.history
    const now = Date.now()
    if (!history.revise(room, r.epoch, r.seq, r.version, r.deleted)) return null
    const stored = history.append(room, now, (seq, epoch) => r.head + seq + r.mid + epoch + r.tail, { change: true, of: r.seq })
    this.#bus.deliver(room, stored.text, undefined, stored.seq, stored.epoch)
    return { status: 'sent', id: '', seq: stored.seq, epoch: stored.epoch }
  }

  async find (room: string, id: string): Promise<HeldMessage | null> {
    const m = this.#bus.history.find(room, id, Date.now())
    return m === undefined ? null : { seq: m.seq, epoch: m.epoch, text: m.text }
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const r = this.#bus.history.since(room, seq, epoch, Date.now())
    return r.recovered ? { recovered: true, messages: r.messages } : r
  }

  async history (room: string, options: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const page = this.#bus.history.page(room, Date.now(), options)
    return { epoch: page.epoch, messages: page.messages.map((m) => m.text) }
  }

  async rooms ({ cursor, limit }: Page): Promise<RoomPage> {
    if (cursor !== undefined && !ROOM_REGEXP.test(cursor)) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
    const counts = new Map<string, number>()
    for (const node of this.#bus.nodes) {
      for (const [name, members] of node.membership.rooms()) {
        if (cursor === undefined || name > cursor) counts.set(name, (counts.get(name) ?? 0) + members)
      }
    }
    const rooms: RoomInfo[] = []
    for (const [name, members] of counts) rooms.push({ name, members })
    rooms.sort(byName)
    // The cursor is the last name given: the next page starts after it, whatever joined meanwhile.
    return rooms.length > limit ? { rooms: rooms.slice(0, limit), cursor: rooms[limit - 1].name } : { rooms }
  }

  async room (name: string): Promise<RoomInfo | null> {
    const members = this.#bus.count(name)
    return members === 0 ? null : { name, members }
  }

  async members (name: string, { cursor, limit }: Page): Promise<MemberPage> {
    const list: MemberInfo[] = []
    for (const node of this.#bus.nodes) {
      const members = node.membership.membersOf(name)
      if (members === undefined) continue
      for (const m of members.values()) {
        const info: MemberInfo = { clientId: m.clientId, userId: m.userId, joinedAt: m.joinedAt }
        if (m.name !== undefined) info.name = m.name
        list.push(info)
      }
    }
    // Join order across nodes (each node's own list is already in join order: a stable sort keeps it).
    if (this.#bus.nodes.size > 1) list.sort((a, b) => a.joinedAt - b.joinedAt)
    const from = cursor === undefined ? 0 : afterMember(list, cursor)
    const members = list.slice(from, from + limit)
    return from + limit < list.length ? { members, cursor: memberCursor(members[members.length - 1]) } : { members }
  }

  async userConnections (name: string, userIds: string[]): Promise<number[]> {
    return userIds.map((u) => this.#bus.userCount(name, u))
  }

  /** A client held by another node on the bus; none on this one (the plugin asks itself first). */
  async command (clientId: string, command: RemoteCommand): Promise<RemoteResult> {
    const holder = this.#bus.holder(clientId)
    if (holder === undefined || holder === this.#node) return 'not-found'
    return await holder.execute(clientId, command)
  }

  async stats (local: ChatStats): Promise<ChatStats> {
    if (this.#bus.nodes.size === 1) return local
    const total = { ...local }
    const rooms = new Set<string>()
    for (const node of this.#bus.nodes) {
      for (const [name] of node.membership.rooms()) rooms.add(name)
      if (node === this.#node) continue
      const s = node.stats()
      total.connections += s.connections
      total.members += s.members
      total.messagesIn += s.messagesIn
      total.messagesOut += s.messagesOut
    }
    total.rooms = rooms.size
    return total
  }

  async close (): Promise<void> {
    this.#bus.detach(this.#node)
  }
}

/**
 * The default adapter: everything in this process's memory. Give several instances in one process
 * the same `bus` (`createMemoryBus()`) to make them one chat, as processes on Redis are.
 */
export function memoryAdapter (options: { bus?: MemoryBus } = {}): AdapterFactory {
  if (options === null || typeof options !== 'object') throw new FST_CHAT_INVALID_OPTION('adapter', 'memoryAdapter() takes { bus } or nothing')
  const shared = options.bus
  if (shared !== undefined && !(shared instanceof MemoryBus)) throw new FST_CHAT_INVALID_OPTION('adapter.bus', 'must be a bus from createMemoryBus()')
  return (node) => new MemoryAdapter(node, shared ?? new MemoryBus())
}

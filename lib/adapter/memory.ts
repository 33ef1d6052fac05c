import type { AdapterNode, ChatAdapter, MessageDraft, Published, RemoteResult, Resume, RoomState } from './adapter.js'
import { Dedupe, MemoryHistory } from '../history.js'
import type { Member } from '../registry.js'
import type { ChatStats, MemberInfo, RoomInfo } from '../types.js'

/** Most remembered (user, room, ref) sends: bounds the dedupe table's memory. */
const MAX_DEDUPE = 100_000
/** Most unredeemed tickets held at once (each lives at most 30 s). */
const MAX_TICKETS = 100_000

/**
 * The single-process adapter: the node's registry is the whole truth, publishing is local
 * delivery, and history lives in this process's memory (bounded, see `MemoryHistory`).
 */
export class MemoryAdapter implements ChatAdapter {
  readonly name = 'memory'
  #node: AdapterNode | undefined
  #history: MemoryHistory | undefined
  #dedupe: Dedupe | undefined
  #sweep: NodeJS.Timeout | undefined
  readonly #tickets = new Map<string, { claims: string, expires: number }>()

  async init (node: AdapterNode): Promise<void> {
    this.#node = node
    const { size, ttl, maxBytes } = node.history
    this.#history = new MemoryHistory(size, ttl, maxBytes)
    this.#dedupe = new Dedupe(ttl, MAX_DEDUPE)
    // Expiry also happens on every read and write; the sweep frees rooms nobody touches.
    this.#sweep = setInterval(() => this.#history!.sweep(Date.now()), Math.min(ttl, 60_000)).unref()
  }

  #registry () {
    if (this.#node === undefined) throw new Error('MemoryAdapter used before init()')
    return this.#node.registry
  }

  async connect (): Promise<void> {}

  async disconnect (): Promise<void> {}

  async join (room: string, _member: Member): Promise<RoomState> {
    const { seq, epoch } = this.#history!.state(room, Date.now())
    return { members: this.#registry().count(room), seq, epoch }
  }

  async leave (room: string, _clientId: string): Promise<number> {
    return this.#registry().count(room)
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    this.#node!.deliver(room, frame, except)
  }

  async publishMessage (room: string, draft: MessageDraft): Promise<Published> {
    const now = Date.now()
    if (draft.dedupe !== undefined) {
      const sent = this.#dedupe!.get(draft.dedupe, now)
      if (sent !== undefined) {
        return { status: sent.digest === (draft.digest ?? '') ? 'duplicate' : 'reused', id: sent.id, seq: sent.seq, epoch: sent.epoch }
      }
    }
    const stored = this.#history!.append(room, now, (seq, epoch) => draft.head + seq + draft.mid + epoch + draft.tail)
    const published = { id: draft.id, seq: stored.seq, epoch: stored.epoch }
    if (draft.dedupe !== undefined) this.#dedupe!.set(draft.dedupe, { ...published, digest: draft.digest ?? '' }, now)
    this.#node!.deliver(room, stored.text, undefined, stored.seq, stored.epoch)
    return { status: 'sent', ...published }
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const r = this.#history!.since(room, seq, epoch, Date.now())
    return r.recovered ? { recovered: true, messages: r.messages } : r
  }

  async history (room: string, options: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const page = this.#history!.page(room, Date.now(), options)
    return { epoch: page.epoch, messages: page.messages.map((m) => m.text) }
  }

  async rooms (): Promise<RoomInfo[]> {
    const rooms: RoomInfo[] = []
    for (const [name, members] of this.#registry().rooms()) rooms.push({ name, members })
    // Code-unit order, as documented: not localeCompare, which depends on the host's locale.
    return rooms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async room (name: string): Promise<RoomInfo | null> {
    const members = this.#registry().count(name)
    return members === 0 ? null : { name, members }
  }

  async members (name: string): Promise<MemberInfo[]> {
    const members = this.#registry().membersOf(name)
    if (members === undefined) return []
    const list: MemberInfo[] = []
    for (const m of members.values()) list.push({ clientId: m.clientId, userId: m.userId, joinedAt: m.joinedAt })
    return list
  }

  async issueTicket (ticket: string, claims: string, ttl: number): Promise<void> {
    const now = Date.now()
    // Insertion order is expiry order (one ttl for all): the expired are at the front.
    for (const [t, e] of this.#tickets) {
      if (e.expires > now && this.#tickets.size < MAX_TICKETS) break
      this.#tickets.delete(t)
    }
    this.#tickets.set(ticket, { claims, expires: now + ttl })
  }

  async redeemTicket (ticket: string): Promise<string | null> {
    const e = this.#tickets.get(ticket)
    if (e === undefined) return null
    this.#tickets.delete(ticket)
    return e.expires > Date.now() ? e.claims : null
  }

  /** One process holds every client: one it does not hold does not exist. */
  async command (): Promise<RemoteResult> {
    return 'not-found'
  }

  async stats (local: ChatStats): Promise<ChatStats> {
    return local
  }

  async close (): Promise<void> {
    clearInterval(this.#sweep)
    this.#history?.clear()
    this.#dedupe?.clear()
    this.#tickets.clear()
  }
}

/** The default adapter: everything in this process's memory. */
export function memoryAdapter (): ChatAdapter {
  return new MemoryAdapter()
}

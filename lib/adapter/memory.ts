import type { AdapterNode, ChatAdapter, RemoteResult } from './adapter.js'
import type { Member } from '../registry.js'
import type { ChatStats, MemberInfo, RoomInfo } from '../types.js'

/**
 * The single-process adapter: the node's registry is the whole truth and publishing is local
 * delivery. Every answer comes from memory; the Promises only keep the contract.
 */
export class MemoryAdapter implements ChatAdapter {
  readonly name = 'memory'
  #node: AdapterNode | undefined

  async init (node: AdapterNode): Promise<void> {
    this.#node = node
  }

  #registry () {
    if (this.#node === undefined) throw new Error('MemoryAdapter used before init()')
    return this.#node.registry
  }

  async connect (): Promise<void> {}

  async disconnect (): Promise<void> {}

  async join (room: string, _member: Member): Promise<number> {
    return this.#registry().count(room)
  }

  async leave (room: string, _clientId: string): Promise<number> {
    return this.#registry().count(room)
  }

  async publish (room: string, frame: string, except?: string): Promise<void> {
    this.#node!.deliver(room, frame, except)
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

  /** One process holds every client: one it does not hold does not exist. */
  async command (): Promise<RemoteResult> {
    return 'not-found'
  }

  async stats (local: ChatStats): Promise<ChatStats> {
    return local
  }

  async close (): Promise<void> {
    // Nothing to release: the registry is the node's and is cleared by it. Queries after close
    // keep answering (with nothing), as the registry is empty.
  }
}

/** The default adapter: everything in this process's memory. */
export function memoryAdapter (): ChatAdapter {
  return new MemoryAdapter()
}

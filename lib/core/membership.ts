/**
 * Who is in which room on this process, indexed both ways (room -> members, member -> rooms) so
 * that a message finds its recipients and a closing connection finds its rooms without a scan.
 * Pure data: no I/O, no sockets, no notifications. Keys are user input, so everything lives in
 * `Map`s and `Set`s: `__proto__` or `constructor` are rooms like any other.
 */

import type { Member } from '../model.js'

/** Where a member's client keeps its rooms (the plugin's connection), instead of a map entry here. */
export interface RoomsHolder {
  rooms: readonly string[]
}

/**
 * @typeParam M what a membership holds: at least a `Member`; the plugin's own membership also keeps the
 * local connection there, so that a broadcast reaches it without another lookup.
 */
export class Membership<M extends Member = Member> {
  readonly #rooms = new Map<string, Map<string, M>>()
  /**
   * Each client's rooms: an array of exactly their number (a Set costs 150 bytes with two), on the
   * client's holder when there is one (one map entry less per connection), else in this map.
   */
  readonly #clients = new Map<string, readonly string[]>()
  /** Per room, each user's number of memberships (a user with two tabs is one user, two members). */
  readonly #users = new Map<string, Map<string, number>>()
  // Typed on Member, so that a Membership<LocalMember> is still a Membership<Member> to the adapters.
  readonly #holder: ((member: Member) => RoomsHolder) | undefined

  /** @param holder where a member's client keeps its rooms; without it, `roomsOf` answers. */
  constructor (holder?: (member: M) => RoomsHolder) {
    this.#holder = holder as ((member: Member) => RoomsHolder) | undefined
  }

  /** Adds a membership; returns false (and changes nothing) if it already exists. */
  add (room: string, member: M): boolean {
    let members = this.#rooms.get(room)
    if (members === undefined) {
      members = new Map()
      this.#rooms.set(room, members)
    } else if (members.has(member.clientId)) {
      return false
    }
    members.set(member.clientId, member)
    let users = this.#users.get(room)
    if (users === undefined) this.#users.set(room, users = new Map())
    users.set(member.userId, (users.get(member.userId) ?? 0) + 1)
    const holder = this.#holder?.(member)
    if (holder !== undefined) {
      holder.rooms = holder.rooms.concat(room)
      return true
    }
    const rooms = this.#clients.get(member.clientId)
    this.#clients.set(member.clientId, rooms === undefined ? [room] : rooms.concat(room))
    return true
  }

  /** Removes a membership; returns the removed member, or undefined if there was none. A room left empty is gone. */
  remove (room: string, clientId: string): M | undefined {
    const members = this.#rooms.get(room)
    const member = members?.get(clientId)
    if (member === undefined) return undefined
    members!.delete(clientId)
    if (members!.size === 0) this.#rooms.delete(room)
    const users = this.#users.get(room)!
    const left = users.get(member.userId)! - 1
    if (left > 0) users.set(member.userId, left)
    else if (users.delete(member.userId) && users.size === 0) this.#users.delete(room)
    const holder = this.#holder?.(member)
    if (holder !== undefined) {
      holder.rooms = holder.rooms.filter((r) => r !== room)
      return member
    }
    const rooms = this.#clients.get(clientId)!.filter((r) => r !== room)
    if (rooms.length === 0) this.#clients.delete(clientId)
    else this.#clients.set(clientId, rooms)
    return member
  }

  has (room: string, clientId: string): boolean {
    return this.#rooms.get(room)?.has(clientId) === true
  }

  /** Number of members of a room (0 when it does not exist). */
  count (room: string): number {
    return this.#rooms.get(room)?.size ?? 0
  }

  /** A user's memberships of a room (0: none). */
  userCount (room: string, userId: string): number {
    return this.#users.get(room)?.get(userId) ?? 0
  }

  /** The users of a room with their number of memberships, live view: do not change it while iterating. */
  usersOf (room: string): ReadonlyMap<string, number> | undefined {
    return this.#users.get(room)
  }

  /** The members of a room, live view: do not change it while iterating. */
  membersOf (room: string): ReadonlyMap<string, M> | undefined {
    return this.#rooms.get(room)
  }

  /** The rooms a client is in (a copy: safe to leave them while iterating); without a holder only. */
  roomsOf (clientId: string): string[] {
    const rooms = this.#clients.get(clientId)
    return rooms === undefined ? [] : [...rooms]
  }

  /** Number of rooms a client is in; without a holder only. */
  roomCountOf (clientId: string): number {
    return this.#clients.get(clientId)?.length ?? 0
  }

  /** Every room with its member count. */
  * rooms (): IterableIterator<[name: string, members: number]> {
    for (const [name, members] of this.#rooms) yield [name, members.size]
  }

  get roomCount (): number {
    return this.#rooms.size
  }

  /** Total memberships across all rooms. */
  get memberCount (): number {
    let n = 0
    for (const members of this.#rooms.values()) n += members.size
    return n
  }

  clear (): void {
    this.#rooms.clear()
    this.#clients.clear()
    this.#users.clear()
  }
}

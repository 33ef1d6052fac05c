/**
 * Rooms as records in this process's memory: the default store of room records for one process
 * (and the tests'). Gone with the process, as everything else the memory adapter holds.
 */
import type { RecordPage, Removal, RoomInvite, RoomMember, RoomPatch, RoomRecord, RoomRole, RoomStore } from '../rooms-contract.js'

interface Held { member: RoomMember, n: number }

// Copies out (and in): a caller never holds the store's own objects (a record's meta included).
const copy = <T extends object>(o: T): T => structuredClone(o)

/** A cursor: a number or a name, opaque to callers. */
const encode = (v: string | number): string => Buffer.from(String(v)).toString('base64url')
const decode = (c: string | undefined): string | undefined => c === undefined ? undefined : Buffer.from(c, 'base64url').toString()

export class MemoryRoomStore implements RoomStore {
  readonly #records = new Map<string, RoomRecord>()
  /** room -> userId -> member, with the order it joined in */
  readonly #members = new Map<string, Map<string, Held>>()
  /** userId -> its rooms */
  readonly #byUser = new Map<string, Set<string>>()
  /** room -> userId -> invite */
  readonly #invites = new Map<string, Map<string, RoomInvite>>()
  readonly #invitesOf = new Map<string, Map<string, RoomInvite>>()
  #n = 0

  async createRoom (record: RoomRecord, members: Array<{ userId: string, role: RoomRole }>, at: number): Promise<'created' | 'exists'> {
    if (this.#records.has(record.room)) return 'exists'
    this.#records.set(record.room, copy(record))
    for (const m of members) this.#add(record.room, m.userId, m.role, 0, at)
    return 'created'
  }

  async room (room: string): Promise<RoomRecord | null> {
    const r = this.#records.get(room)
    return r === undefined ? null : copy(r)
  }

  async updateRoom (room: string, patch: RoomPatch): Promise<RoomRecord | null> {
    const r = this.#records.get(room)
    if (r === undefined) return null
    for (const key of ['title', 'topic', 'meta'] as const) {
      const v = patch[key]
      if (v === null) delete r[key]
      else if (v !== undefined) (r as unknown as Record<string, unknown>)[key] = v
    }
    if (patch.archived !== undefined) r.archived = patch.archived
    return copy(r)
  }

  async member (room: string, userId: string): Promise<RoomMember | null> {
    const h = this.#members.get(room)?.get(userId)
    return h === undefined ? null : copy(h.member)
  }

  async addMember (room: string, userId: string, role: RoomRole, joinedSeq: number, at: number): Promise<{ added: boolean, member: RoomMember }> {
    const had = this.#members.get(room)?.get(userId)
    this.#dropInvite(room, userId)
    if (had !== undefined) return { added: false, member: copy(had.member) }
    return { added: true, member: copy(this.#add(room, userId, role, joinedSeq, at)) }
  }

  #add (room: string, userId: string, role: RoomRole, joinedSeq: number, at: number): RoomMember {
    let list = this.#members.get(room)
    if (list === undefined) this.#members.set(room, list = new Map())
    const member: RoomMember = { room, userId, role, joinedSeq, joinedAt: at }
    list.set(userId, { member, n: ++this.#n })
    let mine = this.#byUser.get(userId)
    if (mine === undefined) this.#byUser.set(userId, mine = new Set())
    mine.add(room)
    return member
  }

  async setRole (room: string, userId: string, role: RoomRole): Promise<RoomMember | 'last-owner' | null> {
    const list = this.#members.get(room)
    const h = list?.get(userId)
    if (list === undefined || h === undefined) return null
    if (h.member.role === 'owner' && role !== 'owner' && this.#owners(list) === 1) return 'last-owner'
    h.member.role = role
    return copy(h.member)
  }

  #owners (list: Map<string, Held>): number {
    let n = 0
    for (const h of list.values()) if (h.member.role === 'owner') n++
    return n
  }

  async removeMember (room: string, userId: string): Promise<Removal> {
    const list = this.#members.get(room)
    const h = list?.get(userId)
    if (list === undefined || h === undefined) return { removed: false, empty: list === undefined || list.size === 0 }
    list.delete(userId)
    const mine = this.#byUser.get(userId)
    mine?.delete(room)
    if (mine?.size === 0) this.#byUser.delete(userId)
    if (list.size === 0) {
      this.#members.delete(room)
      return { removed: true, empty: true }
    }
    if (h.member.role !== 'owner' || this.#owners(list) > 0) return { removed: true, empty: false }
    // The longest-standing moderator, else member, inherits the room.
    const byAge = [...list.values()].sort((a, b) => a.n - b.n)
    const heir = byAge.find((x) => x.member.role === 'moderator') ?? byAge[0]
    heir.member.role = 'owner'
    return { removed: true, empty: false, newOwner: copy(heir.member) }
  }

  async members (room: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>> {
    const after = Number(decode(cursor) ?? 0)
    const all = [...this.#members.get(room)?.values() ?? []].filter((h) => h.n > after).sort((a, b) => a.n - b.n)
    const page = all.slice(0, limit)
    return { items: page.map((h) => copy(h.member)), ...(all.length > limit ? { cursor: encode(page[page.length - 1].n) } : {}) }
  }

  async roomsOf (userId: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>> {
    const after = decode(cursor)
    const rooms = [...this.#byUser.get(userId) ?? []].filter((r) => after === undefined || r > after).sort()
    const page = rooms.slice(0, limit)
    const items = page.map((r) => copy(this.#members.get(r)!.get(userId)!.member))
    return { items, ...(rooms.length > limit ? { cursor: encode(page[page.length - 1]) } : {}) }
  }

  async invite (room: string, userId: string, by: string | undefined, at: number): Promise<'invited' | 'member' | 'already'> {
    if (this.#members.get(room)?.has(userId) === true) return 'member'
    if (this.#invites.get(room)?.has(userId) === true) return 'already'
    const invite: RoomInvite = { room, userId, at, ...(by === undefined ? {} : { by }) }
    let forRoom = this.#invites.get(room)
    if (forRoom === undefined) this.#invites.set(room, forRoom = new Map())
    forRoom.set(userId, invite)
    let forUser = this.#invitesOf.get(userId)
    if (forUser === undefined) this.#invitesOf.set(userId, forUser = new Map())
    forUser.set(room, invite)
    return 'invited'
  }

  async invitation (room: string, userId: string): Promise<RoomInvite | null> {
    const i = this.#invites.get(room)?.get(userId)
    return i === undefined ? null : copy(i)
  }

  async invites (userId: string): Promise<RoomInvite[]> {
    return [...this.#invitesOf.get(userId)?.values() ?? []].sort((a, b) => b.at - a.at || (a.room < b.room ? -1 : 1)).map(copy)
  }

  async decline (room: string, userId: string): Promise<boolean> {
    return this.#dropInvite(room, userId)
  }

  #dropInvite (room: string, userId: string): boolean {
    const forRoom = this.#invites.get(room)
    if (forRoom?.delete(userId) !== true) return false
    if (forRoom.size === 0) this.#invites.delete(room)
    const forUser = this.#invitesOf.get(userId)
    forUser?.delete(room)
    if (forUser?.size === 0) this.#invitesOf.delete(userId)
    return true
  }
}

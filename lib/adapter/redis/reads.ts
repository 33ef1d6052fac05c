/**
 * What the Redis adapter reads: a room's history (for resumes and pages), and the listings of
 * rooms (merged from the index buckets, sorted by name) and of a room's members (in join order),
 * page by page.
 */
import { scrubbedEdit } from '../../protocol/scrub.js'
import { ROOM_REGEXP } from '../../constants.js'
import { FST_CHAT_INVALID_PAGE } from '../../errors.js'
import { MAX_PAGE } from '../../page-cursor.js'
import type { AdapterNode, HeldMessage, MemberPage, Page, Resume, RoomPage } from '../contract.js'
import type { MemberInfo, RoomInfo } from '../../model.js'
import type { Health } from './health.js'
import { INDEX_BUCKETS, type Keys } from './keys.js'
import { scripts } from './scripts.js'

/** A members cursor as this adapter writes it: a join time, and how many members with it were given. */
const MEMBER_CURSOR = /^(\d{1,16}):(\d{1,9})$/

interface Entry { seq: number, text: string, change: boolean }

/** Stream entries to events, in the order read, without those older than `ttl`. */
function entries (raw: Array<[string, string[]]>, ttl: number): Entry[] {
  const oldest = Date.now() - ttl
  const out = []
  for (const [id, fields] of raw) {
    let at = 0
    let text = ''
    let change = false
    let scrub = false
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 't') at = Number(fields[i + 1])
      else if (fields[i] === 'f') text = fields[i + 1]
      else if (fields[i] === 'k') change = true
      else if (fields[i] === 'x') scrub = true
    }
    if (scrub) text = scrubbedEdit(text)
    if (at >= oldest) out.push({ seq: Number(id.slice(0, id.indexOf('-'))), text, change })
  }
  return out
}

export class Reads {
  readonly #keys: Keys
  readonly #health: Health
  readonly #node: AdapterNode

  constructor (keys: Keys, health: Health, node: AdapterNode) {
    this.#keys = keys
    this.#health = health
    this.#node = node
  }

  async #read (room: string, direction: 'after' | 'before', bound: string, count: number): Promise<[string | null, number, Entry[], number]> {
    const [epoch, seq, raw] = await this.#health.run(async (c) => await scripts.read.run(c,
      [this.#keys.meta(room), this.#keys.history(room), this.#keys.versions(room)], [direction, bound, count])) as [string | null, number, Array<[string, string[]]>]
    return [epoch, seq, entries(raw, this.#node.history.ttl), raw.length]
  }

  async since (room: string, seq: number, epoch: string): Promise<Resume> {
    const [e, s, events] = await this.#read(room, 'after', `${seq + 1}-0`, 2 * this.#node.history.size + 1)
    if (e === null || e !== epoch || seq > s) return { recovered: false }
    if (seq === s) return { recovered: true, messages: [] }
    // Every one of them, without a hole (a store's events may have come out of order).
    if (events.length !== s - seq || events[0].seq !== seq + 1) return { recovered: false }
    return { recovered: true, messages: events }
  }

  async history (room: string, { after, before, limit }: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: string[] }> {
    const direction = after !== undefined ? 'after' : 'before'
    let bound = after !== undefined ? `${after + 1}-0` : before !== undefined ? `(${before}-0` : '+'
    const messages: Entry[] = []
    let epoch: string | null = null
    // Edits and deletions are in the stream too: read on until `limit` messages or the end.
    for (;;) {
      const [e, , events, read] = await this.#read(room, direction, bound, limit)
      epoch ??= e
      for (const ev of events) if (!ev.change && messages.length < limit) messages.push(ev)
      if (read < limit || messages.length >= limit || events.length === 0) break
      const last = events[events.length - 1].seq
      bound = `(${last}-0`
    }
    if (direction === 'before') messages.reverse()
    return { epoch: epoch ?? '', messages: messages.map((m) => m.text) }
  }

  async find (room: string, id: string): Promise<HeldMessage | null> {
    const found = await this.#health.run(async (c) => await scripts.find.run(c,
      [this.#keys.meta(room), this.#keys.history(room), this.#keys.versions(room)], [id])) as [string, string, string, string] | null
    if (found === null || Number(found[3]) < Date.now() - this.#node.history.ttl) return null
    return { seq: Number(found[0]), epoch: found[1], text: found[2] }
  }

  async rooms ({ cursor, limit }: Page): Promise<RoomPage> {
    if (cursor !== undefined && !ROOM_REGEXP.test(cursor)) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
    const from = cursor === undefined ? '-' : `(${cursor}`
    // Each bucket's next names, merged: a page sorted by name across all of them.
    const lists = await Promise.all(Array.from({ length: INDEX_BUCKETS }, async (_, k) =>
      await this.#health.run(async (c) => await c.zrangebylex(this.#keys.roomIndex(k), from, '+', 'LIMIT', 0, limit))))
    const names = lists.flat().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const rooms: RoomInfo[] = []
    let last: string | undefined
    for (let i = 0; i < names.length && rooms.length < limit; i += 64) {
      const batch = names.slice(i, i + 64)
      const counts = await Promise.all(batch.map(async (name) => await this.#health.run(async (c) => await c.zcard(this.#keys.members(name)))))
      for (let j = 0; j < batch.length && rooms.length < limit; j++) {
        last = batch[j]
        if (counts[j] > 0) rooms.push({ name: batch[j], members: counts[j] })
      }
    }
    // More after `last`: names merged but not given, or a bucket that had more than it gave.
    const more = last !== undefined && (names.indexOf(last) < names.length - 1 || lists.some((l) => l.length === limit))
    return more ? { rooms, cursor: last } : { rooms }
  }

  async room (name: string): Promise<RoomInfo | null> {
    const members = await this.#health.run(async (c) => await c.zcard(this.#keys.members(name)))
    return members === 0 ? null : { name, members }
  }

  async userConnections (name: string, userIds: string[]): Promise<number[]> {
    if (userIds.length === 0) return []
    const counts = await this.#health.run(async (c) => await c.hmget(this.#keys.roomUsers(name), ...userIds))
    return counts.map((n) => Number(n ?? 0))
  }

  async members (name: string, { cursor, limit }: Page): Promise<MemberPage> {
    // The cursor is "<joinedAt>:<how many with that joinedAt were given>".
    const at = cursor === undefined ? undefined : MEMBER_CURSOR.exec(cursor)
    if (at === null) throw new FST_CHAT_INVALID_PAGE(MAX_PAGE)
    const [score, skip] = at === undefined ? ['-inf', 0] : [at[1], Number(at[2])]
    const flat = await this.#health.run(async (c) => await c.zrangebyscore(this.#keys.members(name), score, '+inf', 'WITHSCORES', 'LIMIT', skip, limit + 1))
    const members: MemberInfo[] = []
    for (let i = 0; i < flat.length && members.length < limit; i += 2) {
      const m = flat[i]
      const cut = m.indexOf('\n')
      members.push({ clientId: m.slice(0, cut), userId: m.slice(cut + 1), joinedAt: Number(flat[i + 1]) })
    }
    if (members.length > 0) {
      const users = [...new Set(members.map((m) => m.userId))]
      const names = await this.#health.run(async (c) => await c.hmget(this.#keys.roomNames(name), ...users))
      const byUser = new Map(users.map((u, i) => [u, names[i]]))
      for (const m of members) {
        const n = byUser.get(m.userId)
        if (n !== null && n !== undefined) m.name = n
      }
    }
    if (flat.length / 2 <= limit) return { members }
    const lastAt = members[members.length - 1].joinedAt
    const sameAt = members.filter((m) => m.joinedAt === lastAt).length + (String(lastAt) === score ? skip : 0)
    return { members, cursor: `${lastAt}:${sameAt}` }
  }
}

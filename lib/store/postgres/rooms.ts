/**
 * Rooms as records in PostgreSQL (sql/003_rooms.sql): records, members with roles, invites. What
 * must keep a room's invariant (it always has an owner) runs in a transaction under an advisory
 * lock of the room, so that two processes changing one room's owners take turns.
 */
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'
import type { RecordPage, Removal, RoomInvite, RoomMember, RoomPatch, RoomRecord, RoomRole, RoomStore } from '../rooms-contract.js'
import { isUnavailable } from './faults.js'
import type { PgClient, PgPool } from './options.js'
import { query } from './query.js'
import { transaction } from './transaction.js'

interface RecordRow { room: string, kind: RoomRecord['kind'], title: string | null, topic: string | null, meta: Record<string, unknown> | null, created_by: string | null, created_at: string, archived: boolean, history: RoomRecord['history'] }
interface MemberRow { room: string, user_id: string, role: RoomRole, joined_seq: string, joined_at: string, n: string }
interface InviteRow { room: string, user_id: string, by_user: string | null, at: string }

function recordOf (r: RecordRow): RoomRecord {
  const out: RoomRecord = { room: r.room, kind: r.kind, createdAt: Number(r.created_at), archived: r.archived, history: r.history }
  if (r.title !== null) out.title = r.title
  if (r.topic !== null) out.topic = r.topic
  if (r.meta !== null) out.meta = r.meta
  if (r.created_by !== null) out.createdBy = r.created_by
  return out
}
const memberOf = (r: MemberRow): RoomMember => ({ room: r.room, userId: r.user_id, role: r.role, joinedSeq: Number(r.joined_seq), joinedAt: Number(r.joined_at) })
const inviteOf = (r: InviteRow): RoomInvite => ({ room: r.room, userId: r.user_id, ...(r.by_user === null ? {} : { by: r.by_user }), at: Number(r.at) })
const encode = (v: string): string => Buffer.from(v).toString('base64url')
const decode = (c: string | undefined): string | undefined => c === undefined ? undefined : Buffer.from(c, 'base64url').toString()
const MEMBER = 'room, user_id, role, joined_seq, joined_at, n'

export class PostgresRoomStore implements RoomStore {
  readonly #pool: PgPool
  readonly #s: string
  readonly #schema: string
  readonly #timeout: number

  constructor (pool: PgPool, schema: string, queryTimeout = 10_000) {
    this.#pool = pool
    this.#schema = schema
    this.#s = `"${schema}"`
    this.#timeout = queryTimeout
  }

  async #query<R> (name: string, text: string, values: unknown[]): Promise<R[]> {
    return await query<R>(this.#pool, `fastify-chat:${this.#s}:rooms:${name}`, text, values, this.#timeout)
  }

  /** A transaction holding the room's advisory lock. */
  async #locked<T> (room: string, work: (client: PgClient) => Promise<T>): Promise<T> {
    try {
      return await transaction(this.#pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-chat:${this.#schema}:room:${room}`])
        return await work(client)
      })
    } catch (err) {
      if (isUnavailable(err)) throw new FST_CHAT_UNAVAILABLE(`PostgreSQL: ${(err as Error).message}`)
      throw err
    }
  }

  async createRoom (record: RoomRecord, members: Array<{ userId: string, role: RoomRole }>, at: number): Promise<'created' | 'exists'> {
    const s = this.#s
    const rows = await this.#query<{ created: string }>('create', `
      WITH r AS (
        INSERT INTO ${s}.room_records (room, kind, title, topic, meta, created_by, created_at, archived, history)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING room
      ), m AS (
        INSERT INTO ${s}.room_members (room, user_id, role, joined_seq, joined_at)
        SELECT r.room, x.u, x.ro, 0, $12 FROM r, unnest($10::text[], $11::text[]) WITH ORDINALITY AS x(u, ro, i) ORDER BY x.i
        RETURNING 1
      )
      SELECT count(*) AS created FROM r`,
    [record.room, record.kind, record.title ?? null, record.topic ?? null, record.meta === undefined ? null : JSON.stringify(record.meta),
      record.createdBy ?? null, record.createdAt, record.archived, record.history, members.map((m) => m.userId), members.map((m) => m.role), at])
    return Number(rows[0].created) === 1 ? 'created' : 'exists'
  }

  async room (room: string): Promise<RoomRecord | null> {
    const rows = await this.#query<RecordRow>('room', `SELECT * FROM ${this.#s}.room_records WHERE room = $1`, [room])
    return rows.length === 0 ? null : recordOf(rows[0])
  }

  async updateRoom (room: string, patch: RoomPatch): Promise<RoomRecord | null> {
    const set = (v: unknown): boolean => v !== undefined
    const rows = await this.#query<RecordRow>('update', `
      UPDATE ${this.#s}.room_records SET
        title = CASE WHEN $2 THEN $3 ELSE title END,
        topic = CASE WHEN $4 THEN $5 ELSE topic END,
        meta = CASE WHEN $6 THEN $7::jsonb ELSE meta END,
        archived = COALESCE($8, archived)
      WHERE room = $1 RETURNING *`,
    [room, set(patch.title), patch.title ?? null, set(patch.topic), patch.topic ?? null, set(patch.meta),
      patch.meta == null ? null : JSON.stringify(patch.meta), patch.archived ?? null])
    return rows.length === 0 ? null : recordOf(rows[0])
  }

  async member (room: string, userId: string): Promise<RoomMember | null> {
    const rows = await this.#query<MemberRow>('member', `SELECT ${MEMBER} FROM ${this.#s}.room_members WHERE room = $1 AND user_id = $2`, [room, userId])
    return rows.length === 0 ? null : memberOf(rows[0])
  }

  async addMember (room: string, userId: string, role: RoomRole, joinedSeq: number, at: number): Promise<{ added: boolean, member: RoomMember }> {
    const s = this.#s
    const rows = await this.#query<MemberRow & { added: boolean }>('add', `
      WITH d AS (DELETE FROM ${s}.room_invites WHERE room = $1 AND user_id = $2),
      i AS (
        INSERT INTO ${s}.room_members (room, user_id, role, joined_seq, joined_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT DO NOTHING RETURNING ${MEMBER}
      )
      SELECT ${MEMBER}, true AS added FROM i
      UNION ALL
      SELECT ${MEMBER}, false FROM ${s}.room_members WHERE room = $1 AND user_id = $2 AND NOT EXISTS (SELECT 1 FROM i)`,
    [room, userId, role, joinedSeq, at])
    if (rows.length > 0) return { added: rows[0].added, member: memberOf(rows[0]) }
    // Added by another process since this statement's snapshot: it is there now.
    const now = await this.member(room, userId)
    if (now === null) throw new Error(`fastify-chat: ${userId} is neither added to nor a member of ${room}`)
    return { added: false, member: now }
  }

  async setRole (room: string, userId: string, role: RoomRole): Promise<RoomMember | 'last-owner' | null> {
    return await this.#locked(room, async (c) => {
      const s = this.#s
      const found = (await c.query(`SELECT role, (SELECT count(*) FROM ${s}.room_members WHERE room = $1 AND role = 'owner') AS owners FROM ${s}.room_members WHERE room = $1 AND user_id = $2`, [room, userId])).rows
      if (found.length === 0) return null
      if (found[0].role === 'owner' && role !== 'owner' && Number(found[0].owners) === 1) return 'last-owner'
      const rows = (await c.query(`UPDATE ${s}.room_members SET role = $3 WHERE room = $1 AND user_id = $2 RETURNING ${MEMBER}`, [room, userId, role])).rows as MemberRow[]
      return memberOf(rows[0])
    })
  }

  async removeMember (room: string, userId: string): Promise<Removal> {
    return await this.#locked(room, async (c) => {
      const s = this.#s
      const gone = (await c.query(`DELETE FROM ${s}.room_members WHERE room = $1 AND user_id = $2 RETURNING role`, [room, userId])).rows
      const left = (await c.query(`SELECT count(*) AS n, count(*) FILTER (WHERE role = 'owner') AS owners FROM ${s}.room_members WHERE room = $1`, [room])).rows[0]
      const empty = Number(left.n) === 0
      if (gone.length === 0) return { removed: false, empty }
      if (empty) return { removed: true, empty: true }
      if (gone[0].role !== 'owner' || Number(left.owners) > 0) return { removed: true, empty: false }
      // The longest-standing moderator, else member, inherits the room.
      const heir = (await c.query(`
        UPDATE ${s}.room_members SET role = 'owner' WHERE room = $1 AND user_id = (
          SELECT user_id FROM ${s}.room_members WHERE room = $1 ORDER BY (role = 'moderator') DESC, n LIMIT 1
        ) RETURNING ${MEMBER}`, [room])).rows as MemberRow[]
      return { removed: true, empty: false, newOwner: memberOf(heir[0]) }
    })
  }

  async members (room: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>> {
    const rows = await this.#query<MemberRow>('members', `SELECT ${MEMBER} FROM ${this.#s}.room_members WHERE room = $1 AND n > $2 ORDER BY n LIMIT $3`,
      [room, Number(decode(cursor) ?? 0), limit + 1])
    const page = rows.slice(0, limit)
    return { items: page.map(memberOf), ...(rows.length > limit ? { cursor: encode(page[page.length - 1].n) } : {}) }
  }

  async roomsOf (userId: string, cursor: string | undefined, limit: number): Promise<RecordPage<RoomMember>> {
    const rows = await this.#query<MemberRow>('rooms-of', `
      SELECT ${MEMBER} FROM ${this.#s}.room_members WHERE user_id = $1 AND ($2::text IS NULL OR room COLLATE "C" > $2::text COLLATE "C")
      ORDER BY room COLLATE "C" LIMIT $3`, [userId, decode(cursor) ?? null, limit + 1])
    const page = rows.slice(0, limit)
    return { items: page.map(memberOf), ...(rows.length > limit ? { cursor: encode(page[page.length - 1].room) } : {}) }
  }

  async invite (room: string, userId: string, by: string | undefined, at: number): Promise<'invited' | 'member' | 'already'> {
    const s = this.#s
    const rows = await this.#query<{ room: string }>('invite', `
      INSERT INTO ${s}.room_invites (room, user_id, by_user, at)
      SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM ${s}.room_members WHERE room = $1 AND user_id = $2)
      ON CONFLICT DO NOTHING RETURNING room`, [room, userId, by ?? null, at])
    if (rows.length > 0) return 'invited'
    return await this.member(room, userId) !== null ? 'member' : 'already'
  }

  async invitation (room: string, userId: string): Promise<RoomInvite | null> {
    const rows = await this.#query<InviteRow>('invitation', `SELECT * FROM ${this.#s}.room_invites WHERE room = $1 AND user_id = $2`, [room, userId])
    return rows.length === 0 ? null : inviteOf(rows[0])
  }

  async invites (userId: string): Promise<RoomInvite[]> {
    const rows = await this.#query<InviteRow>('invites', `SELECT * FROM ${this.#s}.room_invites WHERE user_id = $1 ORDER BY at DESC, room COLLATE "C" LIMIT 1000`, [userId])
    return rows.map(inviteOf)
  }

  async decline (room: string, userId: string): Promise<boolean> {
    return (await this.#query<{ room: string }>('decline', `DELETE FROM ${this.#s}.room_invites WHERE room = $1 AND user_id = $2 RETURNING room`, [room, userId])).length > 0
  }
}

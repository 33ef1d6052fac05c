/**
 * The PostgreSQL store: every query it makes. A turn's messages are one call of
 * `append_messages` (one round trip, one transaction); edits and deletions one call of
 * `change_message`; reads are plain SELECTs by the primary key (room, seq). Queries are named, so
 * that each pooled connection prepares them once.
 */
import type { Marker, Published } from '../../model.js'
import type { ChatStore, MessageChange, StoredEvent, StoreMessage } from '../contract.js'
import { query } from './query.js'
import type { PgPool } from './options.js'
import type { Retention } from './retention.js'

interface EventRow {
  kind: 'message' | 'edited' | 'deleted'
  seq: string
  id: string
  user_id: string
  sender: string
  name: string | null
  recipient: string | null
  content: string
  meta: Record<string, unknown> | null
  at: string
  edited_at: string | null
  deleted_at: string | null
}

/** A message row's columns, as an event (s: the quoted schema). */
function columns (s: string): string {
  return `'message' AS kind, m.seq, m.id, m.user_id, m.sender, m.name, m.recipient, m.content, m.meta, ${s}.time_ms(m.sent_at) AS at, ` +
    `${s}.time_ms(m.edited_at) AS edited_at, ${s}.time_ms(m.deleted_at) AS deleted_at`
}

function toEvent (room: string, epoch: string, row: EventRow): StoredEvent {
  const e: StoredEvent = {
    kind: row.kind,
    room,
    seq: Number(row.seq),
    epoch,
    id: row.id,
    userId: row.user_id,
    from: row.sender,
    content: row.content ?? '',
    timestamp: Number(row.at)
  }
  if (row.name !== null) e.name = row.name
  if (row.recipient !== null && row.recipient !== undefined) e.to = row.recipient
  if (row.meta !== null) e.meta = row.meta
  if (row.edited_at !== null) e.editedAt = Number(row.edited_at)
  if (row.deleted_at !== null) e.deletedAt = Number(row.deleted_at)
  return e
}

export class PostgresStore implements ChatStore {
  readonly name = 'postgres'
  readonly #pool: PgPool
  readonly #s: string
  readonly #columns: string
  readonly #onClose: () => Promise<void>
  readonly #retention: Retention | undefined
  readonly #timeout: number

  constructor (pool: PgPool, schema: string, onClose: () => Promise<void>, retention?: Retention, queryTimeout = 10_000) {
    this.#pool = pool
    this.#timeout = queryTimeout
    this.#s = `"${schema}"`
    this.#columns = columns(this.#s)
    this.#onClose = onClose
    this.#retention = retention
  }

  /**
   * Applies the retention rules now (they also run every `retention.interval`): the number of
   * messages deleted, or null when another process is applying them. 0 without rules.
   */
  async applyRetention (): Promise<number | null> {
    return this.#retention === undefined ? 0 : await this.#retention.run()
  }

  /** Runs one named query (see query.ts). */
  async #query<R> (name: string, text: string, values: unknown[]): Promise<R[]> {
    return await query<R>(this.#pool, `fastify-chat:${this.#s}:${name}`, text, values, this.#timeout)
  }

  async append (messages: StoreMessage[], refTtl: number): Promise<Published[]> {
    const n = messages.length
    const cols: unknown[][] = Array.from({ length: 11 }, () => new Array(n))
    for (let i = 0; i < n; i++) {
      const m = messages[i]
      cols[0][i] = m.room
      cols[1][i] = m.id
      cols[2][i] = m.userId
      cols[3][i] = m.from
      cols[4][i] = m.name ?? null
      cols[5][i] = m.content
      cols[6][i] = m.meta === undefined ? null : JSON.stringify(m.meta)
      cols[7][i] = m.timestamp
      cols[8][i] = m.ref ?? null
      cols[9][i] = m.digest ?? null
      cols[10][i] = m.to ?? null
    }
    const rows = await this.#query<{ status: Published['status'], id: string, seq: string, epoch: string }>('append',
      `SELECT status, id, seq, epoch FROM ${this.#s}.append_messages($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::bigint)`,
      [...cols, Date.now() - refTtl])
    return rows.map((r) => ({ status: r.status, id: r.id, seq: Number(r.seq), epoch: r.epoch }))
  }

  async state (room: string): Promise<{ seq: number, epoch: string }> {
    const [row] = await this.#query<{ seq: string, epoch: string }>('state',
      `SELECT coalesce(r.seq, 0) AS seq, coalesce(r.epoch, ${this.#s}.room_epoch($1)) AS epoch
       FROM (SELECT $1::text AS room) q LEFT JOIN ${this.#s}.rooms r ON r.room = q.room`, [room])
    return { seq: Number(row.seq), epoch: row.epoch }
  }

  async events (room: string, after: number, limit: number): Promise<{ epoch: string, seq: number, events: StoredEvent[] }> {
    const s = this.#s
    const rows = await this.#query<EventRow & { room_epoch: string, last: string }>('events',
      `SELECT coalesce(r.epoch, ${s}.room_epoch($1)) AS room_epoch, coalesce(r.seq, 0) AS last, e.*
       FROM (SELECT $1::text AS room) q
       LEFT JOIN ${s}.rooms r ON r.room = q.room
       LEFT JOIN LATERAL (
         (SELECT ${this.#columns} FROM ${s}.messages m WHERE m.room = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3)
         UNION ALL
         (SELECT kind, seq, message_id, user_id, sender, NULL, NULL, coalesce(content, ''), meta, ${s}.time_ms(at), NULL, NULL
          FROM ${s}.changes WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3)
         ORDER BY seq LIMIT $3
       ) e ON true ORDER BY e.seq`,
      [room, after, limit])
    const epoch = rows[0].room_epoch
    const events = rows[0].seq === null ? [] : rows.map((r) => toEvent(room, epoch, r))
    return { epoch, seq: Number(rows[0].last), events }
  }

  async messages (room: string, { after, before, limit }: { after?: number, before?: number, limit: number }): Promise<{ epoch: string, messages: StoredEvent[] }> {
    const s = this.#s
    const columns = this.#columns
    const [rows, state] = await Promise.all([
      after !== undefined
        ? this.#query<EventRow>('page-after', `SELECT ${columns} FROM ${s}.messages m WHERE m.room = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`, [room, after, limit])
        : this.#query<EventRow>('page-before', `SELECT ${columns} FROM ${s}.messages m WHERE m.room = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3`, [room, before ?? '9223372036854775807', limit]),
      this.state(room)
    ])
    if (after === undefined) rows.reverse()
    return { epoch: state.epoch, messages: rows.map((r) => toEvent(room, state.epoch, r)) }
  }

  async message (room: string, id: string): Promise<StoredEvent | null> {
    if (!UUID.test(id)) return null
    const s = this.#s
    const rows = await this.#query<EventRow & { epoch: string }>('message',
      `SELECT r.epoch, ${this.#columns} FROM ${s}.messages m JOIN ${s}.rooms r ON r.room = m.room WHERE m.room = $1 AND m.id = $2`, [room, id])
    return rows.length === 0 ? null : toEvent(room, rows[0].epoch, rows[0])
  }

  async edit (room: string, id: string, change: MessageChange): Promise<StoredEvent | null> {
    return await this.#change(room, id, 'edited', change)
  }

  async delete (room: string, id: string, change: MessageChange): Promise<StoredEvent | null> {
    return await this.#change(room, id, 'deleted', change)
  }

  async #change (room: string, id: string, kind: 'edited' | 'deleted', change: MessageChange): Promise<StoredEvent | null> {
    if (!UUID.test(id)) return null
    const meta = kind === 'edited' && change.meta !== undefined ? JSON.stringify(change.meta) : null
    const content = kind === 'edited' ? change.content ?? '' : null
    const rows = await this.#query<{ seq: string, epoch: string }>('change',
      `SELECT seq, epoch FROM ${this.#s}.change_message($1, $2::uuid, $3, $4, $5, $6, $7::jsonb, $8)`,
      [room, id, kind, change.userId, change.from, content, meta, change.at])
    if (rows.length === 0) return null
    const e: StoredEvent = { kind, room, seq: Number(rows[0].seq), epoch: rows[0].epoch, id, userId: change.userId, from: change.from, content: content ?? '', timestamp: change.at }
    if (kind === 'edited' && change.meta !== undefined) e.meta = change.meta
    return e
  }

  async readMarkers (userId: string, rooms?: string[]): Promise<Map<string, number>> {
    const rows = rooms === undefined
      ? await this.#query<{ room: string, seq: string }>('markers', `SELECT room, seq FROM ${this.#s}.read_markers WHERE user_id = $1`, [userId])
      : await this.#query<{ room: string, seq: string }>('markers-of', `SELECT room, seq FROM ${this.#s}.read_markers WHERE user_id = $1 AND room = ANY($2::text[])`, [userId, rooms])
    return new Map(rows.map((r) => [r.room, Number(r.seq)]))
  }

  async markRead (userId: string, room: string, seq: number, init = false): Promise<Marker> {
    const [row] = await this.#query<{ seq: string, moved: boolean }>('mark-read', `SELECT seq, moved FROM ${this.#s}.mark_read($1, $2, $3, $4)`, [userId, room, seq, init])
    return { seq: Number(row.seq), moved: row.moved }
  }

  async unread (room: string, userId: string, after: number, cap: number): Promise<{ seq: number, unread: number }> {
    const s = this.#s
    // Counting stops at the cap: a marker far behind costs a bounded scan of the primary key.
    const [row] = await this.#query<{ seq: string, unread: string }>('unread',
      `SELECT coalesce((SELECT r.seq FROM ${s}.rooms r WHERE r.room = $1), 0) AS seq,
        (SELECT count(*) FROM (SELECT 1 FROM ${s}.messages m WHERE m.room = $1 AND m.seq > $2 AND m.user_id <> $3 AND m.deleted_at IS NULL LIMIT $4) u) AS unread`,
      [room, after, userId, Math.max(0, cap)])
    return { seq: Number(row.seq), unread: Number(row.unread) }
  }

  async close (): Promise<void> {
    await this.#onClose()
  }
}

/** Ids the store made are UUIDs; anything else names no message (and must not reach a uuid cast). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

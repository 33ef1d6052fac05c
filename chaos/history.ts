/** The final history, as the run's PostgreSQL keeps it (the store's tables), for the checker. */
import pg from 'pg'
import type { FinalEvent, FinalRoom } from './log.js'

export async function finalHistory (connectionString: string, schema: string, conversations: Map<string, [string, string]>): Promise<FinalRoom[]> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    const s = `"${schema}"`
    const rooms = (await client.query<{ room: string, epoch: string }>(`SELECT room, epoch FROM ${s}.rooms ORDER BY room`)).rows
    const messages = (await client.query<{ room: string, seq: string, id: string, user_id: string, content: string, deleted: boolean }>(
      `SELECT room, seq, id, user_id, content, deleted_at IS NOT NULL AS deleted FROM ${s}.messages`)).rows
    const changes = (await client.query<{ room: string, seq: string, kind: 'edited' | 'deleted', message_id: string, content: string | null }>(
      `SELECT room, seq, kind, message_id, content FROM ${s}.changes`)).rows
    const events = new Map<string, FinalEvent[]>()
    const push = (room: string, e: FinalEvent): void => { events.set(room, [...events.get(room) ?? [], e]) }
    for (const m of messages) push(m.room, { seq: Number(m.seq), kind: 'message', id: m.id, userId: m.user_id, content: m.content, deleted: m.deleted })
    for (const c of changes) {
      push(c.room, c.kind === 'edited'
        ? { seq: Number(c.seq), kind: 'edited', id: c.message_id, content: c.content ?? '' }
        : { seq: Number(c.seq), kind: 'deleted', id: c.message_id })
    }
    return rooms.map(({ room, epoch }) => {
      const r: FinalRoom = { room, epoch, events: (events.get(room) ?? []).sort((a, b) => a.seq - b.seq) }
      const pair = conversations.get(room)
      if (pair !== undefined) r.participants = pair
      return r
    })
  } finally {
    await client.end()
  }
}

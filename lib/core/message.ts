/**
 * Chat frames built where their seq and epoch are not known yet: a `message` (or an `edited` or
 * `deleted`) serialized once, split around the seq and epoch that only the room's authority (the
 * store, or else the adapter) fills in; frames rebuilt from what a store kept; and a message's
 * new version after an edit or deletion.
 */
import { randomUUID } from 'node:crypto'
import type { MessageDraft } from '../adapter/contract.js'
import { digestBase64url } from '../hash.js'
import type { ChatUser } from '../model.js'
import type { Meta, Ref } from '../protocol/schemas.js'
import type { StoredEvent } from '../store/contract.js'

export { scrubbedEdit } from '../protocol/scrub.js'

/** Who sent a message: a connection (its clientId, user id and display name), or the server. */
export interface Sender {
  from: string
  userId: string
  name?: string
}

/**
 * The draft of a `message` frame to `room` (a direct message's with its recipient, `to`); with a
 * `ref`, resends of it are recognised.
 */
export function messageDraft (room: string, sender: Sender, content: string, meta: Meta | undefined, ref: Ref | undefined, now: number, id = randomUUID(), to?: string): MessageDraft {
  const name = (sender.name === undefined ? '' : `,"name":${JSON.stringify(sender.name)}`) + (to === undefined ? '' : `,"to":${JSON.stringify(to)}`)
  const withMeta = meta === undefined ? '' : `,"meta":${JSON.stringify(meta)}`
  return {
    id,
    head: `{"type":"message","room":${JSON.stringify(room)},"id":"${id}","seq":`,
    mid: ',"epoch":"',
    tail: `","from":${JSON.stringify(sender.from)},"userId":${JSON.stringify(sender.userId)}${name},"content":${JSON.stringify(content)}${withMeta},"timestamp":${now}}`,
    dedupe: ref === undefined ? undefined : dedupeKey(sender.userId, room, ref),
    digest: ref === undefined ? undefined : contentDigest(content, meta)
  }
}

/** A change to a message, as its frame's parts: `edited` (with the new content and meta) or `deleted`. */
export interface ChangeDraft {
  head: string
  mid: string
  tail: string
}

export function changeDraft (room: string, id: string, userId: string, change: { content: string, meta?: Meta } | undefined, at: number): ChangeDraft {
  const type = change === undefined ? 'deleted' : 'edited'
  const body = change === undefined
    ? `,"deletedAt":${at}}`
    : `,"content":${JSON.stringify(change.content)}${change.meta === undefined ? '' : `,"meta":${JSON.stringify(change.meta)}`},"editedAt":${at}}`
  return {
    head: `{"type":"${type}","room":${JSON.stringify(room)},"id":${JSON.stringify(id)},"seq":`,
    mid: ',"epoch":"',
    tail: `","userId":${JSON.stringify(userId)}${body}`
  }
}

/** A message's frame at its new version: edited (content and meta replaced), or its tombstone. */
export function revisedMessage (text: string, change: { content: string, meta?: Meta } | undefined, at: number): string {
  const m = JSON.parse(text) as Record<string, unknown>
  delete m.meta
  if (change === undefined) {
    m.content = ''
    m.deleted = true
    m.deletedAt = at
    return JSON.stringify(m)
  }
  m.content = change.content
  if (change.meta !== undefined) m.meta = change.meta
  delete m.editedAt
  // The frame's key order: content, meta, timestamp, then editedAt.
  const { timestamp, ...rest } = m
  return JSON.stringify({ ...rest, timestamp, editedAt: at })
}

/** The frame of an event a store kept: a message at its latest version, an `edited` or a `deleted`. */
export function eventFrame (e: StoredEvent): string {
  if (e.kind === 'message') {
    const m: Record<string, unknown> = { type: 'message', room: e.room, id: e.id, seq: e.seq, epoch: e.epoch, from: e.from, userId: e.userId }
    if (e.name !== undefined) m.name = e.name
    if (e.to !== undefined) m.to = e.to
    m.content = e.content
    if (e.meta !== undefined) m.meta = e.meta
    m.timestamp = e.timestamp
    if (e.editedAt !== undefined) m.editedAt = e.editedAt
    if (e.deletedAt !== undefined) {
      m.deleted = true
      m.deletedAt = e.deletedAt
    }
    return JSON.stringify(m)
  }
  const d = changeDraft(e.room, e.id, e.userId, e.kind === 'edited' ? { content: e.content, meta: e.meta } : undefined, e.timestamp)
  return d.head + e.seq + d.mid + e.epoch + d.tail
}

/** The dedupe key of a message: a ref's type counts (1 and "1" are different refs). */
export function dedupeKey (userId: string, room: string, ref: string | number): string {
  return `${userId}\n${room}\n${typeof ref === 'number' ? 'n' : 's'}${ref}`
}

/** How a ref is kept by a store: its type counts, as in the dedupe key. */
export function storedRef (ref: string | number): string {
  return `${typeof ref === 'number' ? 'n' : 's'}${ref}`
}

/**
 * The digest of what a message says: a resend with the same ref must say the same. 128 bits of
 * SHA-256, base64url (22 characters): kept beside every remembered ref.
 */
export function contentDigest (content: string, meta?: unknown): string {
  const text = meta === undefined ? content : `${content}\0${JSON.stringify(meta)}`
  return digestBase64url('sha256', text).slice(0, 22)
}

/** The token's `name` claim, when it is a usable display name (a string, cut to 64 characters). */
export function displayName (user: ChatUser): string | undefined {
  const name = user.name
  if (typeof name !== 'string') return undefined
  const trimmed = name.replaceAll('\0', '').trim()
  return trimmed === '' ? undefined : trimmed.slice(0, 64)
}

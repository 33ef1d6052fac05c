/**
 * A chat message on its way to the adapter: the `message` frame serialized once, split around the
 * seq and epoch that only the room's authority (the adapter) can fill in, with the keys of
 * effectively-once sends.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { MessageDraft } from '../adapter/contract.js'
import type { Ref } from '../protocol/schemas.js'

/** Who sent a message: a connection (its clientId, user id and display name), or the server. */
export interface Sender {
  from: string
  userId: string
  name?: string
}

/** The draft of a `message` frame to `room`; with a `ref`, resends of it are recognised. */
export function messageDraft (room: string, sender: Sender, content: string, ref: Ref | undefined, now: number): MessageDraft {
  const id = randomUUID()
  const name = sender.name === undefined ? '' : `,"name":${JSON.stringify(sender.name)}`
  return {
    id,
    head: `{"type":"message","room":${JSON.stringify(room)},"id":"${id}","seq":`,
    mid: ',"epoch":"',
    tail: `","from":${JSON.stringify(sender.from)},"userId":${JSON.stringify(sender.userId)}${name},"content":${JSON.stringify(content)},"timestamp":${now}}`,
    dedupe: ref === undefined ? undefined : dedupeKey(sender.userId, room, ref),
    digest: ref === undefined ? undefined : contentDigest(content)
  }
}

/** The dedupe key of a message: a ref's type counts (1 and "1" are different refs). */
export function dedupeKey (userId: string, room: string, ref: string | number): string {
  return `${userId}\n${room}\n${typeof ref === 'number' ? 'n' : 's'}${ref}`
}

/**
 * The digest of what a message says: a resend with the same ref must say the same. 128 bits of
 * SHA-256, base64url (22 characters): kept beside every remembered ref.
 */
export function contentDigest (content: string, meta?: unknown): string {
  const hash = createHash('sha256').update(content)
  if (meta !== undefined) hash.update('\0').update(JSON.stringify(meta))
  return hash.digest('base64url').slice(0, 22)
}

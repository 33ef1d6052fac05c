/**
 * Messages on their way: a client's through the host's hook (in the order sent), then to the
 * store (committed, numbered) and the adapter, or to the adapter alone (which numbers them); edits
 * and deletions checked (the message exists, the requester may) and numbered the same way; the
 * host's `message`, `edited` and `deleted` events once each is done.
 */
import type { ChatAdapter, Published } from '../adapter/contract.js'
import type { ChatUser } from '../model.js'
import type { ResolvedOptions } from '../options.js'
import type { Meta, MessageFrame, Ref } from '../protocol/schemas.js'
import type { StoredEvent, StoreMessage } from '../store/contract.js'
import type { Connection } from '../transport/connection.js'
import type { MessageContext, MessageInfo } from '../types.js'
import type { ChatEvents } from './events.js'
import type { Hooks } from './hooks.js'
import { changeDraft, displayName, eventFrame, messageDraft, revisedMessage, storedRef, type Sender } from './message.js'
import type { StoreLink } from './store-link.js'

export type SendResult = Published | { status: 'rejected', reason: string }
export type ChangeResult =
  | { status: 'done', seq: number }
  | { status: 'not-found' | 'forbidden' }
  | { status: 'rejected', reason: string }

/** Who edits or deletes: a connection's user, or the server (`user: null`, allowed everything). */
export interface Actor extends Sender {
  user: ChatUser | null
}

function noop (): void {}

export class Messages {
  readonly #opts: ResolvedOptions
  readonly #adapter: () => ChatAdapter
  readonly #link: () => StoreLink | undefined
  readonly #events: ChatEvents
  readonly #hooks: Hooks

  constructor (opts: ResolvedOptions, adapter: () => ChatAdapter, link: () => StoreLink | undefined, events: ChatEvents, hooks: Hooks) {
    this.#opts = opts
    this.#adapter = adapter
    this.#link = link
    this.#events = events
    this.#hooks = hooks
  }

  /** A client's message: the hook's verdict (in the order sent), then published. */
  // Not async: without hooks the adapter's promise is handed back as it is (each async layer on a
  // message's path costs a promise and a turn of the microtask queue).
  fromClient (conn: Connection, room: string, content: string, meta: Meta | undefined, ref: Ref | undefined, to?: string): Promise<SendResult> {
    const sender = { from: conn.id, userId: conn.userId, name: displayName(conn.user) }
    if (!this.#hooks.active) return this.publish(room, sender, content, meta, ref, conn.user, to)
    const ctx: MessageContext = { user: conn.user, clientId: conn.id, room, content, meta }
    if (to !== undefined) ctx.to = to
    return this.#hooks.inOrder(conn, ctx, async (v) =>
      'reject' in v ? { status: 'rejected', reason: v.reject } : await this.publish(room, sender, v.content, v.meta, ref, conn.user, to))
  }

  /**
   * Publishes a message: committed by the store (which numbers it) then handed to the adapter,
   * or numbered by the adapter. The call is made at once, so that calls made in order are
   * published in order.
   */
  publish (room: string, sender: Sender, content: string, meta: Meta | undefined, ref: Ref | undefined, user: ChatUser | null, to?: string): Promise<Published> {
    const now = Date.now()
    const draft = messageDraft(room, sender, content, meta, ref, now, undefined, to)
    const link = this.#link()
    let sent: Promise<Published>
    if (link === undefined) {
      // A host's adapter that throws instead of rejecting still fails as a rejection (what the
      // sender's ack handling expects), as when this method was async.
      try {
        sent = this.#adapter().publishMessage(room, draft)
      } catch (err) {
        sent = Promise.reject(err)
      }
    } else {
      const kept: StoreMessage = { room, id: draft.id, userId: sender.userId, from: sender.from, name: sender.name, content, meta, timestamp: now }
      if (to !== undefined) kept.to = to
      if (ref !== undefined) {
        kept.ref = storedRef(ref)
        kept.digest = draft.digest
      }
      sent = link.commit(kept, draft)
    }
    if (this.#events.has('message')) {
      sent.then((p) => {
        if (p.status !== 'sent') return
        const frame: MessageFrame = { type: 'message', room, id: p.id, seq: p.seq, epoch: p.epoch, from: sender.from, userId: sender.userId, content, timestamp: now }
        if (sender.name !== undefined) frame.name = sender.name
        if (to !== undefined) frame.to = to
        if (meta !== undefined) frame.meta = meta
        this.#events.emit('message', { ...frame, user })
      }, noop)
    }
    return sent
  }

  /** The message `id` of `room` at its latest version, from the store or else the hot window (null: none, or deleted). */
  async #find (room: string, id: string): Promise<{ info: MessageInfo, text: string, epoch: string, stored?: StoredEvent } | null> {
    const link = this.#link()
    let text: string
    let epoch: string
    let stored: StoredEvent | undefined
    if (link !== undefined) {
      const e = await link.store.message(room, id)
      if (e === null || e.deletedAt !== undefined) return null
      stored = e
      text = eventFrame(e)
      epoch = e.epoch
    } else {
      const held = await this.#adapter().find(room, id)
      if (held === null) return null
      text = held.text
      epoch = held.epoch
    }
    const m = JSON.parse(text) as MessageFrame
    if (m.deleted === true) return null
    const info: MessageInfo = { room, id, seq: m.seq, userId: m.userId, content: m.content, timestamp: m.timestamp }
    if (m.meta !== undefined) info.meta = m.meta
    return { info, text, epoch, stored }
  }

  /**
   * Edits (`edit` given) or deletes a message: it must exist (and not be deleted), and the actor
   * may (its author, an admin, or as canEdit/canDelete say); an edit goes through the hook.
   */
  async change (actor: Actor, room: string, id: string, edit: { content: string, meta?: Meta } | undefined): Promise<ChangeResult> {
    const found = await this.#find(room, id)
    if (found === null) return { status: 'not-found' }
    const { info, text, epoch, stored } = found
    if (actor.user !== null) {
      const rule = edit === undefined ? this.#opts.canDelete : this.#opts.canEdit
      const allowed = rule !== undefined
        ? await rule(actor.user, info)
        : info.userId === actor.userId || await this.#opts.isAdmin(actor.user)
      if (allowed !== true) return { status: 'forbidden' }
    }
    // An edit without meta keeps the message's.
    let change = edit === undefined || edit.meta !== undefined || info.meta === undefined ? edit : { content: edit.content, meta: info.meta }
    if (change !== undefined && actor.user !== null && this.#hooks.active) {
      const v = await this.#hooks.run({ user: actor.user, clientId: actor.from, room, content: change.content, meta: change.meta, edit: id })
      if ('reject' in v) return { status: 'rejected', reason: v.reject }
      change = { content: v.content, meta: v.meta }
    }
    const at = Date.now()
    const version = revisedMessage(text, change, at)
    let seq: number
    let eventEpoch: string
    const link = this.#link()
    if (link !== undefined && stored !== undefined) {
      const e = await link.change(stored, { userId: actor.userId, from: actor.from, at, content: change?.content, meta: change?.meta }, version, change === undefined)
      if (e === null) return { status: 'not-found' }
      seq = e.seq
      eventEpoch = e.epoch
    } else {
      const r = await this.#adapter().revise(room, { seq: info.seq, epoch, version, deleted: change === undefined, ...changeDraft(room, id, actor.userId, change, at) })
      if (r === null) return { status: 'not-found' }
      seq = r.seq
      eventEpoch = r.epoch
    }
    if (change === undefined) {
      this.#events.emit('deleted', { type: 'deleted', room, id, seq, epoch: eventEpoch, userId: actor.userId, deletedAt: at, user: actor.user })
    } else {
      this.#events.emit('edited', { type: 'edited', room, id, seq, epoch: eventEpoch, userId: actor.userId, content: change.content, ...(change.meta === undefined ? {} : { meta: change.meta }), editedAt: at, user: actor.user })
    }
    return { status: 'done', seq }
  }
}

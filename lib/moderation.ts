/**
 * Bans and mutes, for `app.chat` and the admin REST routes: kept by the adapter (cluster-wide,
 * ending by themselves at `ttl`), and sent at once to every open connection of the user, on any
 * process, which enforces them from then on: a room ban takes it out of the room, a chat-wide ban
 * closes it with 4003.
 */
import type { ChatAdapter, RemoteCommand, RemoteResult } from './adapter/contract.js'
import { ROOM_REGEXP } from './constants.js'
import { FST_CHAT_CLOSING, FST_CHAT_INVALID_RESTRICTION } from './errors.js'
import type { Restriction, RestrictionKind } from './model.js'
import { userIdProblem } from './user-id.js'

/** The longest reason kept, characters. */
const MAX_REASON = 500
/** The longest ban or mute that may be given a ttl: ten years, ms. */
const MAX_TTL = 10 * 365 * 24 * 3600 * 1000

export interface RestrictOptions {
  /** The room; without it, the whole chat. */
  room?: string
  /** How long it lasts, ms; without it, until lifted. */
  ttl?: number
  /** Why (kept, listed, and told to the user with MUTED). */
  reason?: string
}

function check (userId: unknown, options: unknown, userIdMax: number): asserts options is RestrictOptions {
  const bad = userIdProblem(userId, userIdMax)
  if (bad !== undefined) throw new FST_CHAT_INVALID_RESTRICTION('userId', `a user id (a token's sub) ${bad}`)
  if (options === null || typeof options !== 'object') throw new FST_CHAT_INVALID_RESTRICTION('options', 'must be an object: { room?, ttl?, reason? }')
  const { room, ttl, reason } = options as Record<string, unknown>
  if (room !== undefined && (typeof room !== 'string' || !ROOM_REGEXP.test(room))) throw new FST_CHAT_INVALID_RESTRICTION('room', 'must be a room name')
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL)) {
    throw new FST_CHAT_INVALID_RESTRICTION('ttl', `must be a whole number of ms from 1 to ${MAX_TTL}`)
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON || reason.includes('\0'))) {
    throw new FST_CHAT_INVALID_RESTRICTION('reason', `must be a string of at most ${MAX_REASON} characters`)
  }
}

export interface Moderation {
  ban: (userId: string, options?: RestrictOptions) => Promise<Restriction>
  unban: (userId: string, options?: { room?: string }) => Promise<boolean>
  mute: (userId: string, options?: RestrictOptions) => Promise<Restriction>
  unmute: (userId: string, options?: { room?: string }) => Promise<boolean>
  bans: (room: string) => Promise<Restriction[]>
  mutes: (room: string) => Promise<Restriction[]>
}

export function createModeration (adapter: () => ChatAdapter, closing: () => boolean, command: (clientId: string, cmd: RemoteCommand) => Promise<RemoteResult>, userIdMax: number): Moderation {
  /** Tells every open connection of the user, wherever it is; one that went away meanwhile does not matter. */
  async function tell (userId: string, cmd: RemoteCommand): Promise<void> {
    const clients = await adapter().clientsOf(userId)
    await Promise.all(clients.map(async (clientId) => await command(clientId, cmd).catch(() => 'not-found')))
  }

  async function restrict (kind: RestrictionKind, userId: string, options: RestrictOptions = {}): Promise<Restriction> {
    check(userId, options, userIdMax)
    if (closing()) throw new FST_CHAT_CLOSING()
    const at = Date.now()
    const r: Restriction = { kind, userId, at }
    if (options.room !== undefined) r.room = options.room
    if (options.ttl !== undefined) r.until = at + options.ttl
    if (options.reason !== undefined) r.reason = options.reason
    await adapter().restrict(r)
    await tell(userId, { op: 'restrict', restriction: r })
    return r
  }

  async function lift (kind: RestrictionKind, userId: string, options: { room?: string } = {}): Promise<boolean> {
    check(userId, options, userIdMax)
    if (closing()) throw new FST_CHAT_CLOSING()
    const had = await adapter().lift(kind, userId, options.room)
    const cmd: RemoteCommand = options.room === undefined ? { op: 'lift', kind } : { op: 'lift', kind, room: options.room }
    await tell(userId, cmd)
    return had
  }

  async function list (kind: RestrictionKind, room: string): Promise<Restriction[]> {
    if (typeof room !== 'string' || !ROOM_REGEXP.test(room)) throw new FST_CHAT_INVALID_RESTRICTION('room', 'must be a room name')
    return await adapter().restrictions(kind, room)
  }

  return {
    ban: async (userId, options) => await restrict('ban', userId, options),
    unban: async (userId, options) => await lift('ban', userId, options),
    mute: async (userId, options) => await restrict('mute', userId, options),
    unmute: async (userId, options) => await lift('mute', userId, options),
    bans: async (room) => await list('ban', room),
    mutes: async (room) => await list('mute', room)
  }
}

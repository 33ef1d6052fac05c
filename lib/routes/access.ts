/**
 * What the caller of a REST route may see of a room, by the rules its socket follows: a room it is
 * banned from is closed to it (403 FST_CHAT_BANNED); a direct conversation is its two
 * participants' (and an admin's whom `canReadDirect` lets in), and to anyone else it does not exist
 * (404, whether it exists or not, so that who talks to whom does not leak); any other room is open
 * to whom `canJoin` admits, and to admins. An admin banned from a room is no admin there.
 */
import type { FastifyRequest } from 'fastify'
import { chatRestrictions, chatUser } from '../auth.js'
import { isDirect } from '../core/direct.js'
import { bannedError, inForce } from '../core/restrictions.js'
import { FST_CHAT_FORBIDDEN, FST_CHAT_JOIN_FORBIDDEN, FST_CHAT_ROOM_NOT_FOUND } from '../errors.js'
import type { ChatUser, Restriction } from '../model.js'
import type { ResolvedOptions } from '../options.js'
import type { RoomPage } from '../adapter/contract.js'
import type { ChatApi } from '../types.js'

/** The ban in force of the request's user from `room` (the chat-wide one was refused by the auth hook). */
export function roomBan (request: FastifyRequest, room: string): Restriction | undefined {
  const list = chatRestrictions(request)
  if (list === undefined) return undefined
  const now = Date.now()
  return list.find((r) => r.kind === 'ban' && r.room === room && inForce(r, now))
}

/** FST_CHAT_BANNED if the request's user is banned from `room`. */
function refuseIfBanned (request: FastifyRequest, room: string): void {
  const ban = roomBan(request, room)
  if (ban !== undefined) throw bannedError(ban)
}

/**
 * A preHandler for the changing REST endpoints: `isAdmin(user)` or 403, and on a room's routes
 * (a `room` parameter) an admin banned from that room is no admin there (403 FST_CHAT_BANNED).
 */
export function adminOnly (isAdmin: (user: ChatUser, request: FastifyRequest) => boolean | Promise<boolean>) {
  return async function chatAdminOnly (request: FastifyRequest): Promise<void> {
    if (await isAdmin(chatUser(request), request) !== true) throw new FST_CHAT_FORBIDDEN()
    const room = (request.params as { room?: unknown } | undefined)?.room
    if (typeof room === 'string') refuseIfBanned(request, room)
  }
}

/** Rooms a listing page looks at, at most, for each room it may give (a page of few visible rooms ends early, with a cursor). */
const SCAN_FACTOR = 10

export class RoomAccess {
  readonly #opts: ResolvedOptions
  readonly #chat: ChatApi
  /** isAdmin, asked once per request. */
  readonly #admin = new WeakMap<FastifyRequest, Promise<boolean>>()

  constructor (opts: ResolvedOptions, chat: ChatApi) {
    this.#opts = opts
    this.#chat = chat
  }

  async #isAdmin (request: FastifyRequest): Promise<boolean> {
    let admin = this.#admin.get(request)
    if (admin === undefined) {
      admin = Promise.resolve(this.#opts.isAdmin(chatUser(request), request)).then((yes) => yes === true)
      this.#admin.set(request, admin)
    }
    return await admin
  }

  /** Whether the caller may see a direct conversation (null: the room is none). */
  async #inConversation (request: FastifyRequest, room: string): Promise<boolean> {
    const user = chatUser(request)
    const pair = await this.#chat.participants(room)
    if (pair === null) return false
    if (pair.includes(user.sub)) return true
    const canRead = this.#opts.canReadDirect
    return canRead !== undefined && roomBan(request, room) === undefined && await this.#isAdmin(request) && await canRead(user, room, pair) === true
  }

  /** Whether the caller may read a room that is not a direct conversation (canJoin, or an admin not banned there). */
  async #mayJoin (request: FastifyRequest, room: string): Promise<boolean> {
    const canJoin = this.#opts.canJoin
    return canJoin === undefined || await canJoin(chatUser(request), room) === true || await this.#isAdmin(request)
  }

  /** Throws unless the caller may read `room`: its info, members and history. */
  async check (request: FastifyRequest, room: string): Promise<void> {
    if (isDirect(room)) {
      if (!await this.#inConversation(request, room)) throw new FST_CHAT_ROOM_NOT_FOUND(JSON.stringify(room))
      refuseIfBanned(request, room)
      return
    }
    refuseIfBanned(request, room)
    if (!await this.#mayJoin(request, room)) throw new FST_CHAT_JOIN_FORBIDDEN(JSON.stringify(room))
  }

  /** Whether `room` belongs in the caller's listings. */
  async visible (request: FastifyRequest, room: string): Promise<boolean> {
    if (roomBan(request, room) !== undefined) return false
    return isDirect(room) ? await this.#inConversation(request, room) : await this.#mayJoin(request, room)
  }

  /**
   * A page of the rooms the caller may see: the chat's pages read on, past the rooms it may not,
   * until `limit` or the end. A page looks at SCAN_FACTOR x limit rooms at most: it may then hold
   * fewer than `limit` (even none), with a cursor to go on.
   */
  async roomPage (request: FastifyRequest, cursor: string | undefined, limit: number): Promise<RoomPage> {
    const rooms: RoomPage['rooms'] = []
    let scanned = 0
    let next = cursor
    do {
      // Never more than the page still needs: a page read is used whole, so its cursor is right.
      const page = await this.#chat.roomPage({ cursor: next, limit: limit - rooms.length })
      for (const room of page.rooms) if (await this.visible(request, room.name)) rooms.push(room)
      scanned += page.rooms.length
      next = page.cursor
    } while (next !== undefined && rooms.length < limit && scanned < SCAN_FACTOR * limit)
    return next === undefined ? { rooms } : { rooms, cursor: next }
  }
}

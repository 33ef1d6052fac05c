/**
 * Admitted upgrades: a user's place is reserved (across every process, by the adapter) before
 * the upgrade, and confirmed when the connection opens. A place whose upgrade never opened (the
 * client went away meanwhile) is given back after ADMISSION_MS.
 *
 * Between its admission and its open, a connection already counts as the user's (the adapter
 * lists it among the user's clients): a ban or mute made meanwhile is told to it here, kept, and
 * applied when it opens, before anything else. So no restriction can fall between the one its
 * admission read and the ones told to open connections.
 */
import { randomFillSync } from 'node:crypto'
import type { ChatAdapter, RemoteCommand } from '../adapter/contract.js'
import type { Restriction } from '../model.js'
import { Restrictions } from './restrictions.js'

/** Random bytes for clientIds, refilled when used up (ids are made on one thread, one at a time). */
const RANDOM_POOL = Buffer.alloc(12 * 256)
let randomAt = RANDOM_POOL.length

/** 96 random bits, base64url (a clientId's own part). */
export function random96 (): string {
  if (randomAt === RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL)
    randomAt = 0
  }
  randomAt += 12
  return RANDOM_POOL.toString('base64url', randomAt - 12, randomAt)
}

/**
 * An admission: a clientId with the user's bans and mutes; a chat-wide ban (`banned`); or none
 * (the user has `maxConnectionsPerUser` already).
 */
export type AdmitResult = { clientId: string, restrictions: Restriction[] } | { banned: Restriction } | undefined

/** A command about the user's bans and mutes. */
export type RestrictionCommand = Extract<RemoteCommand, { op: 'restrict' | 'lift' }>

/** How long an admitted upgrade may take to open before its place is given back, ms. */
const ADMISSION_MS = 30_000

export class Admitted {
  readonly #adapter: () => ChatAdapter
  /** This process's open connections (what the per-user limit counts while the backend is away). */
  readonly #open: () => Iterable<{ userId: string }>
  /** Admitted upgrades not opened yet (insertion order is time order), with the restrictions told to them meanwhile. */
  readonly #waiting = new Map<string, { userId: string, at: number, told?: RestrictionCommand[] }>()
  #sweep: NodeJS.Timeout | undefined

  constructor (adapter: () => ChatAdapter, open: () => Iterable<{ userId: string }>) {
    this.#adapter = adapter
    this.#open = open
  }

  /**
   * Reserves a place for `clientId` if the user is under `limit` across every process and not
   * banned from the whole chat (then the place goes back at once).
   */
  async admit (userId: string, clientId: string, limit: number): Promise<AdmitResult> {
    const restrictions = await this.#reserve(userId, clientId, limit)
    if (restrictions === false) return undefined
    const banned = new Restrictions(restrictions).find('ban', undefined)
    if (banned === undefined) return { clientId, restrictions }
    this.cancel(userId, clientId)
    return { banned }
  }

  /**
   * The reservation, with the user's bans and mutes (false: over the limit). With the backend
   * away, counts this process's connections only, and knows of no restriction.
   */
  async #reserve (userId: string, clientId: string, limit: number): Promise<Restriction[] | false> {
    // Waiting from before the adapter reserves the place: a ban told to the user's clients as
    // soon as the place exists finds it here, whichever of the answers comes first.
    this.#waiting.set(clientId, { userId, at: Date.now() })
    try {
      const restrictions = await this.#adapter().admit(userId, clientId, limit)
      if (restrictions === false) {
        this.#waiting.delete(clientId)
        return false
      }
      this.#sweep ??= setInterval(() => this.#expire(), ADMISSION_MS).unref()
      return restrictions
    } catch (err) {
      this.#waiting.delete(clientId)
      if ((err as { code?: string }).code !== 'FST_CHAT_UNAVAILABLE') throw err
      // The backend is away: the chat stays open, counting this process's connections only.
      return this.#localCount(userId) < limit && []
    }
  }

  /**
   * A user's open sockets on this process, counted when asked (a scan) rather than kept per user:
   * an outage is rare, a map entry per connection is not.
   */
  #localCount (userId: string): number {
    let n = 0
    for (const conn of this.#open()) if (conn.userId === userId) n++
    return n
  }

  /** The upgrade will not happen (the user is banned): its place goes back at once. */
  cancel (userId: string, clientId: string): void {
    this.#waiting.delete(clientId)
    this.#adapter().cancelAdmission(userId, clientId).catch(() => {})
  }

  /** Whether `clientId` was admitted here and has not opened (nor given its place back) yet. */
  has (clientId: string): boolean {
    return this.#waiting.has(clientId)
  }

  /** A ban or mute (or its lifting) of the user of a connection still opening: kept for its open. */
  tell (clientId: string, command: RestrictionCommand): boolean {
    const waiting = this.#waiting.get(clientId)
    if (waiting === undefined) return false
    ;(waiting.told ??= []).push(command)
    return true
  }

  /** The upgrade opened: its place is a connection now. Returns what was told to it meanwhile, in order. */
  opened (clientId: string): RestrictionCommand[] | undefined {
    const told = this.#waiting.get(clientId)?.told
    this.#waiting.delete(clientId)
    return told
  }

  #expire (): void {
    const old = Date.now() - ADMISSION_MS
    for (const [clientId, { userId, at }] of this.#waiting) {
      if (at > old) break
      this.#waiting.delete(clientId)
      this.#adapter().cancelAdmission(userId, clientId).catch(() => {})
    }
    if (this.#waiting.size === 0) this.clear()
  }

  clear (): void {
    clearInterval(this.#sweep)
    this.#sweep = undefined
    this.#waiting.clear()
  }
}

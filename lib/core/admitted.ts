/**
 * Admitted upgrades: a user's place is reserved (across every process, by the adapter) before
 * the upgrade, and confirmed when the connection opens. A place whose upgrade never opened (the
 * client went away meanwhile) is given back after ADMISSION_MS.
 */
import { randomFillSync } from 'node:crypto'
import type { ChatAdapter } from '../adapter/contract.js'
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

/** How long an admitted upgrade may take to open before its place is given back, ms. */
const ADMISSION_MS = 30_000

export class Admitted {
  readonly #adapter: () => ChatAdapter
  /** This process's open connections (what the per-user limit counts while the backend is away). */
  readonly #open: () => Iterable<{ userId: string }>
  /** Admitted upgrades not opened yet (insertion order is time order). */
  readonly #waiting = new Map<string, { userId: string, at: number }>()
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
    try {
      const restrictions = await this.#adapter().admit(userId, clientId, limit)
      if (restrictions === false) return false
      this.#waiting.set(clientId, { userId, at: Date.now() })
      this.#sweep ??= setInterval(() => this.#expire(), ADMISSION_MS).unref()
      return restrictions
    } catch (err) {
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

  /** The upgrade opened: its place is a connection now. */
  opened (clientId: string): void {
    this.#waiting.delete(clientId)
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

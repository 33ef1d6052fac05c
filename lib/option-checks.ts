/** The checks every option goes through: each failure is FST_CHAT_INVALID_OPTION naming the option. */
import type { ChatPluginOptions } from './types.js'
import { FST_CHAT_INVALID_OPTION } from './errors.js'
import type { OverloadOptions } from './overload.js'

export const MAX_TIMER_MS = 2 ** 31 - 1

export function fail (name: string, why: string, value: unknown): never {
  let shown: string
  try {
    shown = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value)
  } catch {
    shown = String(value)
  }
  throw new FST_CHAT_INVALID_OPTION(name, `${why} (got ${shown})`)
}

export function integer (name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, `must be an integer from ${min} to ${max}`, value)
  }
  return value
}

export function flag (name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(name, 'must be true or false', value)
  return value
}

export function number (name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail(name, `must be a number from ${min} to ${max}`, value)
  }
  return value
}

export function routePath (name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9_.~\-/]*$/.test(value) || value.includes('//')) {
    fail(name, 'must be a path starting with "/" (letters, digits, "_.~-/"), with no parameters', value)
  }
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value
}

/** `presence`: true, false, a limit, or `{ by, limit, batch }`. */
export function resolvePresence (presence: ChatPluginOptions['presence']): { presenceLimit: number, presenceBy: 'user' | 'connection', presenceBatch: number } {
  if (presence === undefined || presence === null || typeof presence !== 'object') {
    return { presenceLimit: limitOf('presence', presence), presenceBy: 'user', presenceBatch: PRESENCE_BATCH_MS }
  }
  for (const key of Object.keys(presence)) {
    if (key !== 'by' && key !== 'limit' && key !== 'batch') fail(`presence.${key}`, 'is not a presence option (by, limit, batch)', (presence as Record<string, unknown>)[key])
  }
  const by = presence.by ?? 'user'
  if (by !== 'user' && by !== 'connection') fail('presence.by', "must be 'user' or 'connection'", by)
  const batch = presence.batch === false ? 0 : integer('presence.batch', presence.batch, PRESENCE_BATCH_MS, 0, 60_000)
  return { presenceLimit: limitOf('presence.limit', presence.limit), presenceBy: by, presenceBatch: batch }
}

/** At most one presence frame per room per this many ms, by default. */
export const PRESENCE_BATCH_MS = 1000

export function limitOf (name: string, value: unknown): number {
  if (value === undefined) return 100
  if (value === true) return Infinity
  if (value === false) return 0
  return integer(name, value, 100, 1, 1e9)
}

/** `admission`: false, or `{ maxEventLoopDelay, maxPendingUpgrades, retryAfter }` (each optional). */
export function resolveAdmission (admission: ChatPluginOptions['admission']): OverloadOptions | false {
  if (admission === false) return false
  if (admission !== undefined && (admission === null || typeof admission !== 'object')) fail('admission', 'must be false or an object', admission)
  const a = admission ?? {}
  for (const key of Object.keys(a)) {
    if (key !== 'maxEventLoopDelay' && key !== 'maxPendingUpgrades' && key !== 'retryAfter') fail(`admission.${key}`, 'is not an admission option (maxEventLoopDelay, maxPendingUpgrades, retryAfter)', (a as Record<string, unknown>)[key])
  }
  return {
    maxEventLoopDelay: integer('admission.maxEventLoopDelay', a.maxEventLoopDelay, 100, 10, 60_000),
    maxPendingUpgrades: integer('admission.maxPendingUpgrades', a.maxPendingUpgrades, 1000, 1, 1e6),
    retryAfter: integer('admission.retryAfter', a.retryAfter, 1, 1, 3600)
  }
}

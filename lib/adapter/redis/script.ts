/** A Lua script run by EVALSHA, sent with EVAL once where a node does not have it yet. */
import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

export class Script {
  readonly lua: string
  readonly sha: string
  /** How many keys it takes; -1: as many as it is given (all of one slot). */
  readonly keys: number

  constructor (keys: number, lua: string) {
    this.keys = keys
    this.lua = lua
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  /** Runs the script: EVALSHA, and EVAL once where the node does not have it yet. */
  async run (client: Redis | Cluster, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (this.keys >= 0 && keys.length !== this.keys) throw new Error(`script expects ${this.keys} keys, got ${keys.length}`)
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err
      return await client.eval(this.lua, keys.length, ...keys, ...args)
    }
  }
}

/**
 * The start and end of a room call that must not apply twice when ioredis sends it again (its
 * answer was lost to a reconnect): the call's id is kept with its answer under the calling
 * process's guard key, and the same call again gets that answer without doing anything. One call
 * per room and process is on its way at a time (room-lane.ts), so one guard per pair is enough.
 * KEYS[g] the guard, ARGV[c] the call's id.
 */
export const repeatOf = (g: number, c: number): string => `
local prior = redis.call('GET', KEYS[${g}])
if prior and string.sub(prior, 1, #ARGV[${c}] + 1) == ARGV[${c}] .. '\\n' then return string.sub(prior, #ARGV[${c}] + 2) end`
export const remember = (g: number, c: number, result: string, ttl: string): string => `
redis.call('SET', KEYS[${g}], ARGV[${c}] .. '\\n' .. ${result}, 'PX', ${ttl})`

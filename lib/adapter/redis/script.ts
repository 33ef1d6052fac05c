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
 * answer was lost to a reconnect): the call's id is kept with its answer in the room's meta hash,
 * in a field of the calling process (`o:<node>`), and the same call again gets that answer without
 * doing anything. One call per room and process is on its way at a time (room-lane.ts), so one
 * field per process is enough; a call whose id is '' needs none (each of its messages has a ref).
 * `prior` is the field's value (read by the script's own first command); ARGV[c] the call's id.
 */
export const repeatOf = (prior: string, c: number): string => `
if ARGV[${c}] ~= '' and ${prior} and string.sub(${prior}, 1, #ARGV[${c}] + 1) == ARGV[${c}] .. '\\n' then return string.sub(${prior}, #ARGV[${c}] + 2) end`

/**
 * Past 32 processes' fields (each a process that wrote to the room in its life), the others' go:
 * run when a process's field was just made. KEYS[m] the room's meta hash, ARGV[n] the calling
 * process's id.
 */
export const prune = (m: number, n: number): string => `
    if redis.call('HLEN', KEYS[${m}]) > 34 then
      for _, f in ipairs(redis.call('HKEYS', KEYS[${m}])) do
        if string.sub(f, 1, 2) == 'o:' and f ~= 'o:' .. ARGV[${n}] then redis.call('HDEL', KEYS[${m}], f) end
      end
    end`

/** Keeps a call's answer under its process's field (see repeatOf). KEYS[m] the meta hash, ARGV[n] the process's id, ARGV[c] the call's id. */
export const remember = (m: number, n: number, c: number, result: string): string => `
if ARGV[${c}] ~= '' and redis.call('HSET', KEYS[${m}], 'o:' .. ARGV[${n}], ARGV[${c}] .. '\\n' .. ${result}) == 1 then${prune(m, n)}
end`

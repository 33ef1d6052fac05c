import { randomFillSync } from 'node:crypto'

/**
 * Random bytes for epochs, refilled when used up: a join or publish script call takes a fresh
 * epoch in case the room needs one, so a storm asks for thousands (one CSPRNG call per 256).
 */
const POOL = Buffer.alloc(6 * 256)
let at = POOL.length

/** A new epoch: a room gets one whenever its history is lost, so that a resume can tell. JSON-safe. */
export function newEpoch (): string {
  if (at === POOL.length) {
    randomFillSync(POOL)
    at = 0
  }
  at += 6
  return POOL.toString('base64url', at - 6, at)
}

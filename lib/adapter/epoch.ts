import { randomBytes } from 'node:crypto'

/** A new epoch: a room gets one whenever its history is lost, so that a resume can tell. JSON-safe. */
export function newEpoch (): string {
  return randomBytes(6).toString('base64url')
}

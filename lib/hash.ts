/**
 * A digest of a string, base64url. Node 20.12 and later have a one-shot `crypto.hash`: the same
 * digest as a Hash object's, in a third of the time for a few bytes, with no object made; older
 * Nodes (>= 20) use the Hash object. Digests that are kept (refs, Redis keys) must never change:
 * tests pin them to the Hash object's.
 */
import * as crypto from 'node:crypto'

const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash

export function digestBase64url (algorithm: 'sha1' | 'sha256', text: string): string {
  return oneShot === undefined ? crypto.createHash(algorithm).update(text).digest('base64url') : oneShot(algorithm, text, 'base64url')
}

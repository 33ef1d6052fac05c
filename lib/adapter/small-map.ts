/**
 * Maps for a handful of entries (a user's connections, a user's read markers): one flat array
 * `[k0, v0, k1, v1, ...]` of exactly their size. A JS Map costs about 400 bytes even with one entry
 * (and an array grown by push reserves 17 slots). The functions work on a bare array, so that one
 * record (the memory bus's per-user one) can hold several without an object for each.
 */

/** Entries as a flat `[k0, v0, k1, v1, ...]` array; inserts and deletes return a new one. */
export type Pairs = readonly unknown[]

/** The empty pairs, shared (never written: an insert makes a new array). */
export const NO_PAIRS: Pairs = Object.freeze([])

function find (e: Pairs, key: unknown): number {
  for (let i = 0; i < e.length; i += 2) if (e[i] === key) return i
  return -1
}

export function pairGet<V> (e: Pairs, key: unknown): V | undefined {
  const i = find(e, key)
  return i === -1 ? undefined : e[i + 1] as V
}

/** Sets `key`: the same array when the key was there (changed in place), else a new one. */
export function pairSet (e: Pairs, key: unknown, value: unknown): Pairs {
  const i = find(e, key)
  if (i !== -1) {
    (e as unknown[])[i + 1] = value
    return e
  }
  // A new array of the exact size (push and spread reserve more).
  const next = new Array<unknown>(e.length + 2)
  for (let j = 0; j < e.length; j++) next[j] = e[j]
  next[e.length] = key
  next[e.length + 1] = value
  return next
}

/** Deletes `key`: a new array, or the same one when the key was not there. */
export function pairDelete (e: Pairs, key: unknown): Pairs {
  const i = find(e, key)
  if (i === -1) return e
  if (e.length === 2) return NO_PAIRS
  const next = new Array<unknown>(e.length - 2)
  for (let j = 0, k = 0; j < e.length; j++) if (j !== i && j !== i + 1) next[k++] = e[j]
  return next
}

/** The entries (deleting while iterating is safe: inserts and deletes make a new array). */
export function * pairEntries<K, V> (e: Pairs): IterableIterator<[K, V]> {
  for (let i = 0; i < e.length; i += 2) yield [e[i] as K, e[i + 1] as V]
}

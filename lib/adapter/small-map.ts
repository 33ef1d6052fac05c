/**
 * A Map for a handful of entries (a user's connections, a user's read markers): one flat array
 * `[k0, v0, k1, v1, ...]` of exactly their size. A JS Map costs about 400 bytes even with one entry
 * (and an array grown by push reserves 17 slots), and the memory adapter keeps two per user.
 */
export class SmallMap<K, V> {
  #entries: unknown[] = []

  get size (): number {
    return this.#entries.length >> 1
  }

  #find (key: K): number {
    const e = this.#entries
    for (let i = 0; i < e.length; i += 2) if (e[i] === key) return i
    return -1
  }

  get (key: K): V | undefined {
    const i = this.#find(key)
    return i === -1 ? undefined : this.#entries[i + 1] as V
  }

  has (key: K): boolean {
    return this.#find(key) !== -1
  }

  set (key: K, value: V): this {
    const i = this.#find(key)
    // A new array of the exact size on insert (push and spread reserve more).
    if (i === -1) {
      const e = this.#entries
      const next = new Array<unknown>(e.length + 2)
      for (let j = 0; j < e.length; j++) next[j] = e[j]
      next[e.length] = key
      next[e.length + 1] = value
      this.#entries = next
    } else {
      this.#entries[i + 1] = value
    }
    return this
  }

  delete (key: K): boolean {
    const i = this.#find(key)
    if (i === -1) return false
    const e = this.#entries
    const next = new Array<unknown>(e.length - 2)
    for (let j = 0, k = 0; j < e.length; j++) if (j !== i && j !== i + 1) next[k++] = e[j]
    this.#entries = next
    return true
  }

  keys (): K[] {
    return this.#entries.filter((_, i) => i % 2 === 0) as K[]
  }

  values (): V[] {
    return this.#entries.filter((_, i) => i % 2 === 1) as V[]
  }

  /** The entries (deleting while iterating is safe: inserts and deletes make a new array). */
  * [Symbol.iterator] (): IterableIterator<[K, V]> {
    const e = this.#entries
    for (let i = 0; i < e.length; i += 2) yield [e[i] as K, e[i + 1] as V]
  }
}

// The flat pairs the memory bus keeps a user's connections and read markers in: the same answers as a Map.
import t from 'tap'
import fc from 'fast-check'
import { NO_PAIRS, pairDelete, pairEntries, pairGet, pairSet, type Pairs } from '../lib/adapter/small-map.js'

t.test('the same answers as a Map, whatever the operations', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 6 }), value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 6 }) })
  )
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
    let small: Pairs = NO_PAIRS
    const map = new Map<number, number>()
    for (const o of ops) {
      if (o.kind === 'set') {
        small = pairSet(small, o.key, o.value)
        map.set(o.key, o.value)
      } else {
        // A delete makes a new array exactly when the key was there.
        const before = small
        small = pairDelete(small, o.key)
        t.equal(small !== before, map.delete(o.key))
      }
      for (let k = 0; k <= 6; k++) { if (pairGet(small, k) !== map.get(k)) return false }
      if (small.length >> 1 !== map.size) return false
    }
    const entries = [...pairEntries<number, number>(small)]
    return JSON.stringify(entries) === JSON.stringify([...map]) &&
      JSON.stringify(entries.map(([k]) => k)) === JSON.stringify([...map.keys()]) &&
      JSON.stringify(entries.map(([, v]) => v)) === JSON.stringify([...map.values()])
  }))
})

t.test('deleting while iterating is safe, and the shared empty pairs are never written', async (t) => {
  let m: Pairs = NO_PAIRS
  for (const k of ['a', 'b', 'c']) m = pairSet(m, k, 1)
  const seen = []
  for (const [k] of pairEntries<string, number>(m)) { seen.push(k); m = pairDelete(m, k) }
  t.same(seen, ['a', 'b', 'c'])
  t.equal(m.length, 0)
  t.equal(m, NO_PAIRS, 'the last delete gives back the shared empty pairs')
  t.same(NO_PAIRS, [], 'still empty')
})

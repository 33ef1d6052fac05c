// SmallMap: the memory adapter's Map for a handful of entries behaves as a Map does.
import t from 'tap'
import fc from 'fast-check'
import { SmallMap } from '../lib/adapter/small-map.js'

t.test('the same answers as a Map, whatever the operations', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 6 }), value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 6 }) })
  )
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
    const small = new SmallMap<number, number>()
    const map = new Map<number, number>()
    for (const o of ops) {
      if (o.kind === 'set') { small.set(o.key, o.value); map.set(o.key, o.value) } else t.equal(small.delete(o.key), map.delete(o.key))
      for (let k = 0; k <= 6; k++) { if (small.get(k) !== map.get(k) || small.has(k) !== map.has(k)) return false }
      if (small.size !== map.size) return false
    }
    return JSON.stringify([...small]) === JSON.stringify([...map]) &&
      JSON.stringify(small.keys()) === JSON.stringify([...map.keys()]) &&
      JSON.stringify(small.values()) === JSON.stringify([...map.values()])
  }))
})

t.test('deleting while iterating is safe', async (t) => {
  const m = new SmallMap<string, number>()
  for (const k of ['a', 'b', 'c']) m.set(k, 1)
  const seen = []
  for (const [k] of m) { seen.push(k); m.delete(k) }
  t.same(seen, ['a', 'b', 'c'])
  t.equal(m.size, 0)
})

// Property-based tests (fast-check): for any input, the decoder never throws, the registry keeps
// its invariants, and a connection fed any frames stays consistent and never disturbs another.
import fc from 'fast-check'
import t from 'tap'
import { ErrorCode } from '../lib/constants.js'
import { createCodec } from '../lib/protocol/codec.js'
import { Membership } from '../lib/core/membership.js'
import { contentDigest } from '../lib/core/message.js'
import { digest } from '../lib/adapter/redis/keys.js'
import { newEpoch } from '../lib/adapter/epoch.js'
import { createHash } from 'node:crypto'
import { build, connect, token } from './helpers.js'

const codes = new Set(Object.values(ErrorCode))
const roomName = fc.oneof(fc.constantFrom('lobby', '__proto__', 'constructor', 'toString', 'a', 'b'), fc.string({ maxLength: 70 }))

/** Frames a client might send: well-formed, almost well-formed, and anything at all. */
const frame = fc.oneof(
  fc.record({ action: fc.constantFrom('join', 'leave', 'message', 'refresh', '__proto__', 'shout'), room: roomName, content: fc.string({ maxLength: 50 }), ref: fc.oneof(fc.string({ maxLength: 70 }), fc.integer()) }, { requiredKeys: ['action'] }),
  fc.record({ content: fc.string({ maxLength: 50 }) }),
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ maxLength: 200 })
).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)))

t.test('decode: never throws; a request or one of the error codes', async (t) => {
  const codec = createCodec({ maxMessageLength: 20, maxMetaBytes: 64, userIdMax: 256 })
  fc.assert(fc.property(fc.oneof(fc.string(), frame, fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1'))), fc.boolean(), (text, binary) => {
    const r = codec.decode(Buffer.from(text), binary)
    if (r.ok) return !binary && typeof r.request === 'object' && r.request !== null
    return codes.has(r.code) && typeof r.message === 'string'
  }), { numRuns: 3000 })
  t.pass('3000 inputs')
})

t.test('a message\'s digest is SHA-256 of its content (then a NUL and its meta\'s JSON), as stores kept it before', async (t) => {
  // Stores keep the digest beside every remembered ref, across restarts: it must never change.
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }), (content, meta) => {
    const reference = createHash('sha256').update(content)
    if (meta !== undefined) reference.update('\0').update(JSON.stringify(meta))
    return contentDigest(content, meta) === reference.digest('base64url').slice(0, 22)
  }))
  t.pass('equal for every content and meta tried')
})

t.test('a Redis key\'s digest of a user id is SHA-1\'s, as every version wrote it (keys outlive processes)', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (userId) => {
    return digest(userId) === createHash('sha1').update(userId).digest('base64url').slice(0, 16)
  }))
  t.equal(digest('alice'), createHash('sha1').update('alice').digest('base64url').slice(0, 16))
})

t.test('epochs: 8 base64url characters, none repeated over a few pool refills', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const e = newEpoch()
    if (!/^[A-Za-z0-9_-]{8}$/.test(e) || seen.has(e)) t.fail(`epoch ${e}`)
    seen.add(e)
  }
  t.equal(seen.size, 2000)
})

t.test('registry: indexed both ways, whatever the sequence of changes', async (t) => {
  const op = fc.record({ add: fc.boolean(), room: fc.constantFrom('r1', 'r2', '__proto__', 'constructor'), client: fc.constantFrom('c1', 'c2', 'c3') })
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
    const r = new Membership()
    const model = new Map<string, Set<string>>()
    for (const o of ops) {
      if (o.add) {
        r.add(o.room, { clientId: o.client, userId: 'u', joinedAt: 0 })
        if (!model.has(o.room)) model.set(o.room, new Set())
        model.get(o.room)!.add(o.client)
      } else {
        r.remove(o.room, o.client)
        model.get(o.room)?.delete(o.client)
        if (model.get(o.room)?.size === 0) model.delete(o.room)
      }
    }
    // room -> members matches the model, and member -> rooms is its exact inverse
    const rooms = new Map([...r.rooms()])
    if (rooms.size !== model.size) return false
    for (const [room, members] of model) {
      if (rooms.get(room) !== members.size) return false
      for (const c of members) if (!r.roomsOf(c).includes(room) || !r.has(room, c)) return false
    }
    for (const c of ['c1', 'c2', 'c3']) {
      for (const room of r.roomsOf(c)) if (!model.get(room)?.has(c)) return false
    }
    return true
  }), { numRuns: 2000 })
  t.pass('2000 sequences')
})

t.test('a connection fed random frames stays consistent and never disturbs another', async (t) => {
  const app = await build(t, { rateLimit: false, maxRoomsPerConnection: 3 })
  const fuzzed = await connect(app, token({ sub: 'fuzz' }))
  const other = await connect(app, token({ sub: 'other' }), { defaultRoom: false })
  await other.next('joined')
  await other.request({ action: 'join', room: 'quiet' })
  const frames = fc.sample(frame, { numRuns: 400, seed: 42 })
  for (const f of frames) fuzzed.send(f)
  await fuzzed.barrier()
  t.equal(fuzzed.ws.readyState, fuzzed.ws.OPEN, 'still open after 400 random frames')
  const errors = fuzzed.queue.filter((f) => f.type === 'error')
  t.ok(errors.every((e) => codes.has(e.code)), 'every error is a documented code')
  // Membership invariants through the public API: every room the fuzzer is in lists it.
  for (const { name } of await app.chat.rooms()) {
    const members = await app.chat.members(name)
    t.ok(members.length > 0 && new Set(members.map((m) => m.clientId)).size === members.length, `${name}: members, no duplicates`)
  }
  t.ok((await app.chat.rooms()).filter((r) => r.name !== 'quiet' && r.name !== 'lobby').length <= 3, 'maxRoomsPerConnection held')
  await other.barrier()
  t.same(other.queue.filter((f) => f.type === 'message' && f.room === 'quiet'), [], 'nothing reached the quiet room')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  fuzzed.close(); other.close()
})

// Hostile input over raw TCP: malformed WebSocket frames, JSON bombs. Each is answered as the
// protocol says, and another client keeps chatting.
import { connect as tcp, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import t from 'tap'
declare const global: { gc?: () => void }
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import { build, Client, token } from './helpers.js'

/** An upgraded raw socket: resolves once the 101 is in. */
async function rawSocket (port: number): Promise<{ socket: Socket, closeCode: Promise<number> }> {
  const socket = tcp({ port, host: '127.0.0.1' })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(`GET /chat?token=${token({ sub: 'raw' })} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  let buf = Buffer.alloc(0)
  let upgraded = false
  let resolveCode: (code: number) => void
  const closeCode = new Promise<number>((resolve) => { resolveCode = resolve })
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        upgraded = true
        buf = buf.subarray(end + 4)
        resolve()
      }
      // Look for a close frame from the server (opcode 8) and read its code.
      for (let i = 0; i + 1 < buf.length;) {
        const op = buf[i] & 0x0f
        let len = buf[i + 1] & 0x7f
        let head = 2
        if (len === 126) { len = buf.readUInt16BE(i + 2); head = 4 }
        if (i + head + len > buf.length) break
        if (op === 8) resolveCode(len >= 2 ? buf.readUInt16BE(i + head) : 1005)
        i += head + len
      }
    })
    socket.on('close', () => resolveCode(1006))
    socket.on('error', () => {})
  })
  return { socket, closeCode }
}

function masked (opcode: number, payload: Buffer, { fin = true, rsv = 0, mask = true } = {}): Buffer {
  const n = payload.length
  const head = n < 126 ? 2 : 4
  const frame = Buffer.alloc(head + (mask ? 4 : 0) + n)
  frame[0] = (fin ? 0x80 : 0) | rsv | opcode
  frame[1] = (mask ? 0x80 : 0) | (n < 126 ? n : 126)
  if (n >= 126) frame.writeUInt16BE(n, 2)
  payload.copy(frame, head + (mask ? 4 : 0)) // zero mask key
  return frame
}

t.test('malformed frames close only their sender, with the right code', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const witness = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token({ sub: 'witness' })}`))
  witness.welcome = await witness.next('welcome')
  await witness.next('joined')

  const cases: Array<[string, Buffer, number]> = [
    ['a header claiming 2^63 bytes', Buffer.from([0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), 1009],
    ['invalid UTF-8 in a text frame', masked(1, Buffer.from([0xc3, 0x28])), 1007],
    ['an unmasked client frame', masked(1, Buffer.from('{}'), { mask: false }), 1002],
    ['RSV bits without an extension', masked(1, Buffer.from('{}'), { rsv: 0x40 }), 1002],
    ['a reserved opcode', masked(3, Buffer.from('x')), 1002],
    ['an oversized ping', masked(9, Buffer.alloc(126)), 1002]
  ]
  for (const [name, frame, code] of cases) {
    const { socket, closeCode } = await rawSocket(port)
    socket.write(frame)
    t.equal(await closeCode, code, name)
    socket.destroy()
    t.match(await witness.request({ action: 'message', room: 'lobby', content: `after ${name}` }), { type: 'ack' }, `${name}: the others keep chatting`)
  }
  witness.ws.close()
  await witness.closed
})

t.test('JSON bombs that fit in maxPayload are BAD_REQUEST, the connection stays, nothing is polluted', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const c = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token()}`))
  await c.next('welcome')
  const bombs = ['null', '[]', '42', '"x"', '['.repeat(30000) + ']'.repeat(30000), '{"__proto__":{"admin":true}}',
    '{"action":"join","room":"lobby","__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}']
  for (const bomb of bombs) {
    c.send(bomb)
    t.match(await c.next('error'), { code: 'BAD_REQUEST' }, bomb.slice(0, 40))
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched')
  t.equal(Object.hasOwn(Object.prototype, 'admin'), false)
  c.send(' '.repeat(70_000))
  t.equal((await c.closed).code, 1009, 'a bomb over maxPayload closes with 1009')
})

t.test('200,000 tiny continuation fragments: closed, the heap stays flat', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  global.gc?.()
  const before = process.memoryUsage().heapUsed
  const { socket, closeCode } = await rawSocket(port)
  // A text frame without FIN, then continuation fragments of one byte each, never finished.
  const fragment = masked(0, Buffer.from('x'), { fin: false })
  const chunk = Buffer.concat(Array.from({ length: 1000 }, () => fragment))
  socket.write(masked(1, Buffer.from('['), { fin: false }))
  let written = 0
  for (let i = 0; i < 200 && !socket.destroyed; i++) {
    if (!socket.write(chunk)) await new Promise((resolve) => { socket.once('drain', resolve); socket.once('close', resolve) })
    written += 1000
  }
  const code = await closeCode
  t.ok([1009, 1008, 1002, 1006].includes(code), `closed (${code}) after ${written} fragments`)
  socket.destroy()
  global.gc?.()
  const grown = process.memoryUsage().heapUsed - before
  t.ok(grown < 32 * 1024 * 1024, `heap grew ${Math.round(grown / 1024)} KiB, not by the flood`)
})

t.test('a flood of 10,000 messages from one socket is rate limited and closed; the room goes on', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const other = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token({ sub: 'other' })}`))
  other.welcome = await other.next('welcome')
  const { socket, closeCode } = await rawSocket(port)
  const frame = masked(1, Buffer.from(JSON.stringify({ action: 'message', room: 'lobby', content: 'spam' })))
  socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => frame)))
  t.equal(await closeCode, 1008, 'closed for policy after too many refused frames')
  socket.destroy()
  await other.barrier()
  const spam = other.queue.filter((f) => f.type === 'message').length
  t.ok(spam <= 40, `at most the burst reached the room (${spam})`)
  t.match(await other.request({ action: 'message', room: 'lobby', content: 'still here' }), { type: 'ack' })
  other.ws.close()
  await other.closed
})

t.test('with permessage-deflate turned on by the host, a compression bomb still closes with 1009', async (t) => {
  const app = await build(t, {
    before: async (app) => { await app.register(fastifyWebsocket, { options: { maxPayload: 65536, perMessageDeflate: true } }) }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const c = new Client(new WebSocket(`ws://127.0.0.1:${port}/chat?token=${token()}`, { perMessageDeflate: true }))
  await c.next('welcome')
  t.ok(c.ws.extensions.includes('permessage-deflate'), 'compression negotiated')
  c.send(JSON.stringify({ content: 'a'.repeat(10 * 1024 * 1024) })) // ~10 KiB on the wire
  t.equal((await c.closed).code, 1009)
})

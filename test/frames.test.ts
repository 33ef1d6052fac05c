import t from 'tap'
import WebSocket from 'ws'
import { textFrame } from '../lib/protocol/frame.js'

// ws's own framer, the reference (exported at run time, not in @types/ws).
const { Sender } = WebSocket as unknown as { Sender: { frame (data: Buffer, options: object): Buffer[] } }
const reference = (text: string) => Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }))

t.test('textFrame builds the same bytes as ws for every length class', async (t) => {
  for (const text of ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'é'.repeat(63), 'é'.repeat(64), 'y'.repeat(65535), 'y'.repeat(65536), '😀'.repeat(20000), 'z'.repeat(70000)]) {
    t.same(textFrame(text), reference(text), `${Buffer.byteLength(text)} bytes`)
  }
})

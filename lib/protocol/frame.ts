/**
 * RFC 6455 text frames, built once: a broadcast writes the same bytes to every member instead of
 * asking `ws` to encode and frame it again for each. Tested byte for byte against ws's Sender.
 */

/** A complete, unmasked WebSocket text frame (header and payload in one buffer). */
export type Frame = Buffer & { readonly __frame: true }

/** Builds the frame of a text message (RFC 6455 5.2: FIN, opcode 1, unmasked, as a server sends). */
export function textFrame (text: string): Frame {
  const length = Buffer.byteLength(text)
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x81
  if (head === 2) {
    frame[1] = length
  } else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.write(text, head, 'utf8')
  return frame as Frame
}

/** The payload of a frame built by `textFrame` (for a socket where ws must frame: an extension is on). */
export function payloadOf (frame: Frame): Buffer {
  const len = frame[1] & 0x7f
  return frame.subarray(len < 126 ? 2 : len === 126 ? 4 : 10)
}

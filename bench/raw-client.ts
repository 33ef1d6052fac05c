// A minimal WebSocket client for the load generator: raw `net` sockets, a header-only frame
// parser and pre-masked (zero key) outgoing frames, so that the generator spends a few tens of
// nanoseconds per received frame and is not the bottleneck. It counts `message` frames by their
// first bytes and parses JSON only for the rare setup frames.
import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'

export type Dialect = 'json' | 'socketio'

// `{"type":"message"` (our protocol) and `42["message"` (Socket.IO event) prefixes.
const JSON_MESSAGE = Buffer.from('{"type":"message"')
const SIO_MESSAGE = Buffer.from('42["message"')
const CONTENT = Buffer.from('"content":"')

/** One zero-key masked text frame: a client must mask, and a zero key leaves the payload as is. */
export function clientFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  const n = payload.length
  const head = n < 126 ? 6 : n < 65536 ? 8 : 14
  const frame = Buffer.alloc(head + n)
  frame[0] = 0x81
  if (n < 126) {
    frame[1] = 0x80 | n
  } else if (n < 65536) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(0, 2)
    frame.writeUInt32BE(n, 6)
  }
  // mask key bytes are left zero
  payload.copy(frame, head)
  return frame
}

const PONG_EMPTY = Buffer.from([0x8a, 0x80, 0, 0, 0, 0])

// One receive buffer for every client: `onread` hands each read to its callback synchronously,
// which parses it at once, so no per-read Buffer is allocated and the stream machinery is skipped.
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

export interface ClientHandlers {
  /** A `message` frame arrived; `payload` only when `wantPayload` is set. */
  onMessage (client: RawClient, payload: Buffer | undefined): void
  /** Any other text frame, parsed. */
  onFrame (client: RawClient, frame: any): void
  onClose (client: RawClient): void
}

export class RawClient {
  readonly socket: Socket
  readonly dialect: Dialect
  /** Free slot for the generator (room index, client index, ...). */
  tag = 0
  open = false
  closed = false
  wantPayload = false
  #handlers: ClientHandlers
  #pending: Buffer | undefined
  #upgraded = false
  #onOpen: (() => void) | undefined
  #onFail: ((err: Error) => void) | undefined

  constructor (port: number, path: string, dialect: Dialect, handlers: ClientHandlers) {
    this.dialect = dialect
    this.#handlers = handlers
    const socket = this.socket = connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => { this.#data(buf.subarray(0, n) as Buffer); return true } }
    })
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    })
    socket.on('error', (err) => this.#onFail?.(err))
    socket.on('close', () => {
      this.closed = true
      this.#onFail?.(new Error('closed before the upgrade'))
      this.#handlers.onClose(this)
    })
  }

  /** Resolves once the upgrade succeeded. */
  opened (): Promise<void> {
    if (this.open) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.#onOpen = resolve
      this.#onFail = reject
    })
  }

  send (frame: Buffer): void {
    this.socket.write(frame)
  }

  sendText (text: string): void {
    this.socket.write(clientFrame(text))
  }

  close (): void {
    this.socket.destroy()
  }

  #data (chunk: Buffer): void {
    // The chunk lives in the shared read buffer: what is kept for later must be copied.
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk])
    this.#pending = undefined
    if (!this.#upgraded) {
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) { this.#pending = Buffer.from(buf); return }
      const status = buf.toString('latin1', 9, 12)
      if (status !== '101') {
        this.#onFail?.(new Error(`upgrade refused: ${buf.toString('latin1', 0, Math.min(end, 200))}`))
        this.socket.destroy()
        return
      }
      this.#upgraded = true
      this.open = true
      const resolve = this.#onOpen
      this.#onOpen = undefined
      this.#onFail = undefined
      resolve?.()
      buf = buf.subarray(end + 4)
    }
    let i = 0
    const len = buf.length
    while (len - i >= 2) {
      const b0 = buf[i]
      let n = buf[i + 1] & 0x7f
      let head = 2
      if (n === 126) {
        if (len - i < 4) break
        n = buf.readUInt16BE(i + 2)
        head = 4
      } else if (n === 127) {
        if (len - i < 10) break
        n = buf.readUInt32BE(i + 6)
        head = 10
      }
      if (len - i < head + n) break
      const start = i + head
      const opcode = b0 & 0x0f
      if (opcode === 1) this.#text(buf, start, start + n)
      else if (opcode === 9) this.socket.write(PONG_EMPTY)
      else if (opcode === 8) this.socket.end()
      i = start + n
    }
    if (i < len) this.#pending = Buffer.from(buf.subarray(i))
  }

  #text (buf: Buffer, start: number, end: number): void {
    const prefix = this.dialect === 'json' ? JSON_MESSAGE : SIO_MESSAGE
    if (end - start >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0) {
      this.#handlers.onMessage(this, this.wantPayload ? buf.subarray(start, end) : undefined)
      return
    }
    const text = buf.toString('utf8', start, end)
    if (this.dialect === 'json') {
      this.#handlers.onFrame(this, JSON.parse(text))
      return
    }
    // Engine.IO: 0 open, 2 ping, 40 connect, 42 event
    if (text === '2') { this.sendText('3'); return }
    if (text.startsWith('42')) {
      const [type, data] = JSON.parse(text.slice(2))
      this.#handlers.onFrame(this, { ...data, type })
    } else if (text.startsWith('40')) {
      // CONNECT: its sid, and with connection-state recovery its pid.
      this.#handlers.onFrame(this, { ...(text.length > 2 ? JSON.parse(text.slice(2)) : {}), type: 'sio-connected' })
    } else if (text.startsWith('0')) {
      this.#handlers.onFrame(this, { type: 'eio-open' })
    }
  }
}

/** The number at the start of a message's content (the load generator writes `<seq>:` first). */
export function contentSeq (payload: Buffer): number {
  let i = payload.indexOf(CONTENT)
  if (i === -1) return -1
  i += CONTENT.length
  let n = 0
  for (;;) {
    const c = payload[i++]
    if (c < 48 || c > 57) return n
    n = n * 10 + (c - 48)
  }
}

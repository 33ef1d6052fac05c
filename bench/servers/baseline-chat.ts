// The baselines' chat: the same JSON protocol as the plugin (welcome, default room, join, leave,
// message, ack), the least code that speaks it, over a `ws` socket. Three ways to deliver a
// broadcast, each serializing the message once:
//   plain     ws.send(string) to every member (ws encodes the string again for each);
//   frame     the WebSocket frame is built once (ws's Sender.frame) and written to every member's
//             socket: one write per delivery, the per-message floor;
//   coalesce  as frame, but the first frame for a socket in an event-loop turn corks it and every
//             corked socket is uncorked once per turn: one writev per socket per turn.
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import { createVerifier } from 'fast-jwt'
import WebSocket from 'ws'

export type Mode = 'plain' | 'frame' | 'coalesce'

interface Client {
  ws: WebSocket
  socket: Socket
  id: string
  userId: string
  rooms: Set<string>
  corked: boolean
}

const FRAME_OPTIONS = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }
// ws exports its Sender at run time; @types/ws does not describe it.
const { Sender } = WebSocket as unknown as { Sender: { frame (data: Buffer, options: object): Buffer[] } }

export function tokenVerifier (secret: string): (token: string | null) => string | undefined {
  const verify = createVerifier({ key: secret, algorithms: ['HS256'] })
  return (token) => {
    if (token === null || token === '') return undefined
    try {
      const claims = verify(token)
      return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined
    } catch {
      return undefined
    }
  }
}

export class BaselineChat {
  readonly rooms = new Map<string, Set<Client>>()
  readonly #mode: Mode
  readonly #corked: Client[] = []
  #flushScheduled = false

  constructor (mode: Mode) {
    this.#mode = mode
  }

  connection (ws: WebSocket, userId: string): void {
    const client: Client = {
      ws,
      socket: (ws as unknown as { _socket: Socket })._socket,
      id: randomUUID(),
      userId,
      rooms: new Set(),
      corked: false
    }
    ws.on('message', (data, isBinary) => this.#message(client, data as Buffer, isBinary))
    ws.on('close', () => {
      for (const room of client.rooms) this.#leave(client, room)
    })
    ws.send(JSON.stringify({ type: 'welcome', message: 'Connected to chat server', clientId: client.id, userId }))
    this.#join(client, 'lobby', undefined)
  }

  #message (client: Client, data: Buffer, isBinary: boolean): void {
    if (isBinary) return
    let req: any
    try {
      req = JSON.parse(data.toString())
    } catch {
      client.ws.send('{"type":"error","code":"BAD_JSON","message":"bad json"}')
      return
    }
    const room = typeof req.room === 'string' ? req.room : 'lobby'
    switch (req.action) {
      case 'join': this.#join(client, room, req.ref); break
      // The floor for typing: the frame is read and parsed, and nothing else happens.
      case 'typing': break
      case 'leave':
        if (this.#leave(client, room)) client.ws.send(JSON.stringify({ type: 'left', room, members: this.rooms.get(room)?.size ?? 0, ref: req.ref }))
        break
      default: {
        if (!client.rooms.has(room)) {
          client.ws.send(JSON.stringify({ type: 'error', code: 'NOT_A_MEMBER', message: 'join first', ref: req.ref }))
          return
        }
        const id = randomUUID()
        this.#broadcast(room, JSON.stringify({
          type: 'message', room, id, from: client.id, userId: client.userId, content: req.content, timestamp: Date.now()
        }))
        if (req.ref !== undefined) client.ws.send(JSON.stringify({ type: 'ack', ref: req.ref, id }))
      }
    }
  }

  #join (client: Client, room: string, ref: unknown): void {
    let members = this.rooms.get(room)
    if (members === undefined) this.rooms.set(room, members = new Set())
    members.add(client)
    client.rooms.add(room)
    client.ws.send(JSON.stringify({ type: 'joined', room, members: members.size, ref }))
  }

  #leave (client: Client, room: string): boolean {
    const members = this.rooms.get(room)
    if (members === undefined || !members.delete(client)) return false
    client.rooms.delete(room)
    if (members.size === 0) this.rooms.delete(room)
    return true
  }

  #broadcast (room: string, text: string): void {
    const members = this.rooms.get(room)
    if (members === undefined) return
    if (this.#mode === 'plain') {
      for (const c of members) c.ws.send(text)
      return
    }
    const frame = Buffer.concat(Sender.frame(Buffer.from(text), FRAME_OPTIONS))
    if (this.#mode === 'frame') {
      for (const c of members) c.socket.write(frame)
      return
    }
    for (const c of members) {
      if (!c.corked) {
        c.corked = true
        c.socket.cork()
        this.#corked.push(c)
      }
      c.socket.write(frame)
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false
    for (const c of this.#corked) {
      c.corked = false
      c.socket.uncork()
    }
    this.#corked.length = 0
  }
}

/**
 * The chaos run's users: about 40 clients of `fastify-chat/client`, in a few hot rooms, some small
 * ones and the lobby, writing direct messages, editing and deleting their own messages, paging
 * history, joining and leaving, reconnecting (clean or cut) to any process of the fleet. Each logs
 * what it asked, what it was answered and every event it got (log.ts), for the checker.
 */
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import { createChatClient, ChatRequestError, type ChatClient } from '../lib/client/index.js'
import { directRoom } from '../lib/core/direct.js'
import type { ClientLog, Entry, Unstamped } from './log.js'
import type { Rng } from './rng.js'

export const HOT = ['hot-1', 'hot-2']
export const SMALL = Array.from({ length: 8 }, (_, i) => `small-${i}`)

export interface WorkloadOptions {
  clients: number
  /** Operations per second, over every client. */
  rate: number
  secret: string
  /** The processes' ports; `alive` says which may be connected to now. */
  ports: number[]
  alive: (index: number) => boolean
  rng: Rng
  /** ms since the run started. */
  now: () => number
  /** Log every frame the sockets get (to find where one went astray). */
  raw?: boolean
}

interface Own { id: string, room: string, tag: string, edits: number }

export class User {
  readonly name: string
  readonly userId: string
  readonly client: ChatClient
  readonly log: ClientLog
  readonly rooms = new Set<string>()
  readonly own: Own[] = []
  pendingSends = 0
  /** Unacknowledged sends per room. */
  readonly pendingIn = new Map<string, number>()
  /** Sends waiting for their outcome: a user does not wait for one before doing something else. */
  readonly #sending = new Set<Promise<void>>()
  readonly o: WorkloadOptions
  #n = 0
  #node = -1
  #socket: WebSocket | undefined
  #ended = false

  constructor (index: number, options: WorkloadOptions) {
    this.o = options
    const o = options
    this.name = `c${String(index).padStart(2, '0')}`
    this.userId = `u${String(index).padStart(2, '0')}`
    this.log = { client: this.name, userId: this.userId, entries: [] }
    const sign = createSigner({ key: o.secret, algorithm: 'HS256', expiresIn: 3_600_000 })
    const self = this
    // The socket class the client opens: keeps the socket, so that a fault can cut it.
    class Socket extends WebSocket {
      constructor (url: string, protocols?: string | string[]) {
        super(url, protocols)
        self.#socket = this
        if (o.raw === true) {
          this.on('message', (data) => {
            const f = JSON.parse(String(data)) as { type: string, room?: string, seq?: number, ref?: string, recovered?: boolean }
            self.#add({ k: 'raw', f: [f.type, f.room ?? '', f.seq ?? '', f.ref ?? '', f.recovered ?? ''].join(' ').trim() })
          })
        }
      }
    }
    this.client = createChatClient({
      url: () => this.#url(),
      token: () => sign({ sub: this.userId, name: this.name }),
      reconnect: { minDelay: 100, maxDelay: 2000 },
      requestTimeout: 20_000,
      WebSocket: Socket as never
    })
    const c = this.client
    c.on('open', () => this.#add({ k: 'open', node: this.#node }))
    c.on('close', (e) => this.#add({ k: 'close', code: e.code }))
    c.on('joined', (j) => {
      this.rooms.add(j.room)
      this.#add(j.recovered === undefined ? { k: 'joined', room: j.room, seq: j.seq, epoch: j.epoch } : { k: 'joined', room: j.room, seq: j.seq, epoch: j.epoch, recovered: j.recovered })
    })
    c.on('left', (l) => {
      this.rooms.delete(l.room)
      this.#add({ k: 'left', room: l.room })
    })
    c.on('message', (m) => this.#add(m.to === undefined
      ? { k: 'message', room: m.room, id: m.id, seq: m.seq, epoch: m.epoch, userId: m.userId, content: m.content }
      : { k: 'message', room: m.room, id: m.id, seq: m.seq, epoch: m.epoch, userId: m.userId, content: m.content, to: m.to }))
    c.on('edited', (m) => this.#add({ k: 'edited', room: m.room, id: m.id, seq: m.seq, content: m.content }))
    c.on('deleted', (m) => this.#add({ k: 'deleted', room: m.room, id: m.id, seq: m.seq }))
  }

  #add (e: Unstamped): void {
    if (this.#ended) return
    this.log.entries.push({ t: this.o.now(), ...e } as Entry)
  }

  /** A live process, at random: a reconnect may go to another one. */
  #url (): string {
    const live = this.o.ports.map((_, i) => i).filter((i) => this.o.alive(i))
    this.#node = live.length === 0 ? this.o.rng.int(0, this.o.ports.length - 1) : this.o.rng.pick(live)
    return `ws://127.0.0.1:${this.o.ports[this.#node]}/chat`
  }

  async start (rooms: string[]): Promise<void> {
    await this.client.connect()
    for (const room of rooms) await this.#request({ k: 'join', room }, async () => await this.client.join(room))
  }

  /** Cuts the socket as a network failure would: no close frame; the client reconnects by itself. */
  cut (): void {
    this.#socket?.terminate()
  }

  /** Runs one request: logged with its number, then its outcome. */
  async #request (what: { k: 'send', room?: string, to?: string } | { k: 'edit' | 'delete', room: string, id: string } | { k: 'join' | 'leave', room: string },
    run: (n: number) => Promise<{ id?: string, seq?: number } | undefined>): Promise<{ id?: string, seq?: number } | undefined> {
    const n = ++this.#n
    this.#add({ ...what, n } as Unstamped)
    try {
      const r = await run(n)
      this.#add(r?.id === undefined ? { k: 'ok', n } : { k: 'ok', n, id: r.id, seq: r.seq })
      return r ?? {}
    } catch (err) {
      const code = err instanceof ChatRequestError ? err.code : /no reply within/.test((err as Error).message) ? 'timeout' : 'lost'
      this.#add({ k: 'fail', n, code })
      return undefined
    }
  }

  /** One operation, chosen as a user's would be. */
  async act (others: User[], origin: (node: number) => string): Promise<void> {
    const r = this.o.rng
    const roll = r.next()
    const rooms = [...this.rooms].filter((room) => !room.startsWith('dm:'))
    if (roll < 0.55 && rooms.length > 0) {
      this.#send(r.pick(rooms))
    } else if (roll < 0.63) {
      this.#send(undefined, r.pick(others.filter((u) => u !== this)).userId)
    } else if (roll < 0.70 && this.own.length > 0) {
      const m = r.pick(this.own)
      if (!this.rooms.has(m.room)) return
      await this.#request({ k: 'edit', room: m.room, id: m.id }, async () => await this.client.edit(m.room, m.id, `${m.tag}/e${++m.edits}`))
    } else if (roll < 0.75 && this.own.length > 0) {
      const i = r.int(0, this.own.length - 1)
      const m = this.own[i]
      if (!this.rooms.has(m.room)) return
      this.own.splice(i, 1)
      await this.#request({ k: 'delete', room: m.room, id: m.id }, async () => await this.client.delete(m.room, m.id))
    } else if (roll < 0.85 && rooms.length > 0) {
      await this.page(r.pick(rooms), origin)
    } else if (roll < 0.93) {
      const inside = SMALL.filter((room) => this.rooms.has(room))
      const outside = SMALL.filter((room) => !this.rooms.has(room))
      if (inside.length > 0 && (outside.length === 0 || r.chance(0.5))) {
        const room = r.pick(inside)
        await this.#request({ k: 'leave', room }, async () => { await this.client.leave(room); return undefined })
      } else if (outside.length > 0) {
        const room = r.pick(outside)
        await this.#request({ k: 'join', room }, async () => { await this.client.join(room); return undefined })
      }
    } else if (roll < 0.96) {
      // Half the time the network drops just after a send: the send is resent with its ref,
      // whether or not the server got it the first time.
      if (rooms.length > 0 && r.chance(0.5)) this.#send(r.pick(rooms))
      this.cut()
    }
  }

  /** A message sent, up to 3 unacknowledged at once; its outcome logged when it comes. */
  #send (room: string | undefined, to?: string): void {
    if (this.pendingSends >= 3) return
    this.pendingSends++
    if (room !== undefined) this.pendingIn.set(room, (this.pendingIn.get(room) ?? 0) + 1)
    const sent = (async () => {
      if (room !== undefined) {
        let tag = ''
        const ack = await this.#request({ k: 'send', room }, async (n) => {
          tag = `${this.name}:${n}`
          return await this.client.send(room, tag)
        })
        if (ack?.id !== undefined) this.own.push({ id: ack.id, room, tag, edits: 0 })
      } else {
        await this.#request({ k: 'send', to }, async (n) => await this.client.dm(to!, `${this.name}:${n}`))
      }
    })().finally(() => {
      this.pendingSends--
      if (room !== undefined) {
        const left = (this.pendingIn.get(room) ?? 1) - 1
        if (left === 0) this.pendingIn.delete(room)
        else this.pendingIn.set(room, left)
      }
      this.#sending.delete(sent)
    })
    this.#sending.add(sent)
  }

  /** Every send's outcome has come. */
  async settled (): Promise<void> {
    while (this.#sending.size > 0) await Promise.all(this.#sending)
  }

  /** A page of a room's history over REST, from a process at random. */
  async page (room: string, origin: (node: number) => string): Promise<void> {
    const live = this.o.ports.map((_, i) => i).filter((i) => this.o.alive(i))
    if (live.length === 0) return
    const sign = createSigner({ key: this.o.secret, algorithm: 'HS256', expiresIn: 60_000 })
    try {
      const res = await fetch(`${origin(this.o.rng.pick(live))}/rooms/${encodeURIComponent(room)}/messages?limit=20`, {
        headers: { authorization: `Bearer ${sign({ sub: this.userId })}` },
        signal: AbortSignal.timeout(5000)
      })
      if (res.status !== 200) return
      const body = await res.json() as { messages: Array<{ id: string, seq: number }> }
      this.#add({ k: 'page', room, messages: body.messages.map((m) => ({ id: m.id, seq: m.seq })) })
    } catch {}
  }

  /** The run is over: the last line says so, and the client closes. */
  end (): void {
    this.#add({ k: 'close', code: 1000 })
    this.#ended = true
    this.client.close()
  }
}

/** The direct conversations the run's users wrote in: room -> its two participants. */
export function conversations (users: User[]): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>()
  for (const u of users) {
    for (const e of u.log.entries) {
      if (e.k === 'send' && e.to !== undefined) {
        const pair = [u.userId, e.to].sort() as [string, string]
        out.set(directRoom(pair[0], pair[1]), pair)
      }
    }
  }
  return out
}

/** Which rooms client `index` starts in: the lobby (by default), one or two hot rooms, a small one. */
export function startingRooms (index: number, clients: number): string[] {
  const rooms = [index < clients * 0.6 ? HOT[0] : HOT[1]]
  if (index % 3 === 0) rooms.push(HOT[1 - HOT.indexOf(rooms[0])])
  rooms.push(SMALL[index % SMALL.length])
  return rooms
}

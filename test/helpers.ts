import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { createSigner } from 'fast-jwt'
import WebSocket from 'ws'
import type { Test } from 'tap'
import chatPlugin, { type ChatPluginOptions } from '../lib/index.js'

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'

const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })

/** A valid HS256 token for `sub` (default "alice") with extra claims. */
export function token (claims: Record<string, unknown> = {}): string {
  return sign({ sub: 'alice', ...claims })
}

/** An admin's token. */
export function adminToken (sub = 'root'): string {
  return token({ sub, role: 'admin' })
}

export type Frame = Record<string, any>

/** Every frame a client receives, to be taken in order by `next`, with a deadline. */
export class Client {
  readonly ws: WebSocket
  readonly queue: Frame[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  #wake: (() => void) | undefined
  welcome: Frame | undefined
  /**
   * A `presenceDiff` (presence changes batched while they come thick and fast) is queued as its
   * changes, each as the `userJoined`/`userLeft` frame it stands for, but the connection's own
   * join (as the typed client does): tests of presence say what is told, not how it was batched.
   * False: queued as it came.
   */
  expandPresence = true

  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? { binary: data } : JSON.parse(data.toString())
      if (frame.type === 'presenceDiff' && this.expandPresence) {
        for (const change of frame.changes) {
          if (change.type !== 'userJoined' || change.clientId !== this.id) this.queue.push({ ...change, room: frame.room })
        }
      } else {
        this.queue.push(frame)
      }
      this.#wake?.()
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.#wake?.()
      })
    })
  }

  get id (): string {
    return this.welcome?.clientId
  }

  send (frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame))
  }

  /**
   * Takes the first received frame that matches (a `type`, or a predicate), waiting for it up to
   * `ms`; frames before it stay queued. Rejects with what did arrive when the deadline passes.
   */
  async next (match?: string | ((f: Frame) => boolean), ms = 5000): Promise<Frame> {
    const test = typeof match === 'string' ? (f: Frame) => f.type === match : match ?? (() => true)
    const deadline = Date.now() + ms
    for (;;) {
      const i = this.queue.findIndex(test)
      if (i !== -1) return this.queue.splice(i, 1)[0]
      const left = deadline - Date.now()
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        const queued = JSON.stringify(this.queue)
        throw new Error(`no frame matching ${String(match)} within ${ms} ms; queued: ${queued.length > 600 ? queued.slice(0, 600) + '...' : queued}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = undefined
    }
  }

  /** Sends a request with a `ref` (its own, or a fresh one) and waits for the reply carrying it. */
  async request (frame: Frame, ms?: number): Promise<Frame> {
    const ref = frame.ref ?? `r${Math.random().toString(36).slice(2)}`
    this.send({ ...frame, ref })
    return await this.next((f) => f.ref === ref, ms)
  }

  /**
   * A round trip through the server: once it returns, every frame the server sent this client
   * before handling this request has arrived. Used to show that nothing else came.
   */
  async barrier (room = 'barrier-probe'): Promise<void> {
    await this.request({ action: 'join', room })
    await this.request({ action: 'leave', room })
  }

  /**
   * The close, within a deadline. The deadline's timer also keeps the event loop alive while the
   * server's own (unref'd) timers run: injectWS's in-memory sockets hold no handle.
   */
  async closedWithin (ms = 10_000): Promise<{ code: number, reason: string }> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms) })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  close (): void {
    this.ws.terminate()
  }
}

export interface BuildOptions extends Partial<ChatPluginOptions> {
  /** Options for the Fastify instance. */
  server?: FastifyServerOptions
  /** Runs on the instance before the plugin is registered. */
  before?: (app: FastifyInstance) => Promise<void> | void
  /** Runs on the instance after the plugin is registered, before `ready()`. */
  after?: (app: FastifyInstance) => Promise<void> | void
  /** Don't add `jwt` to the options. */
  noJwt?: boolean
}

/** A Fastify app with the plugin, closed when the test ends. */
export async function build (t: Test, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { server, before, after, noJwt, ...chat } = options
  const app = Fastify({ logger: false, ...server })
  t.after(() => app.close())
  if (before !== undefined) await before(app)
  await app.register(chatPlugin, {
    ...(noJwt === true ? {} : { jwt: { secret: SECRET } }),
    heartbeatInterval: 0,
    // No load shedding: a test machine running files in parallel lags past its threshold, and a
    // 503 is not what these tests look at (overload.test.ts turns it on).
    admission: false,
    ...chat
  } as ChatPluginOptions)
  if (after !== undefined) await after(app)
  await app.ready()
  return app
}

/**
 * Opens a socket through `injectWS` with a Bearer token and waits for `welcome` (and, when the
 * app has a default room, the `joined` for it, consumed unless `keepJoined`).
 */
export async function connect (
  app: FastifyInstance,
  jwt: string = token(),
  { path = '/chat', defaultRoom = true, headers, pong = true }: {
    path?: string
    defaultRoom?: boolean
    headers?: Record<string, string>
    /** injectWS's client does not answer pings by itself; ours does unless this is false. */
    pong?: boolean
  } = {}
): Promise<Client> {
  let client: Client | undefined
  await app.injectWS(path, { headers: { authorization: `Bearer ${jwt}`, ...headers } }, {
    onInit: (ws: WebSocket) => {
      client = new Client(ws)
      if (pong) ws.on('ping', (data) => ws.pong(data))
    }
  })
  client!.welcome = await client!.next('welcome')
  if (defaultRoom) await client!.next('joined')
  return client!
}

/**
 * A `joined` frame without its epoch (a random string) but with the check that it is one, for
 * exact comparisons of the rest.
 */
export function withoutEpoch (frame: Frame): Frame {
  const { epoch, ...rest } = frame
  if (typeof epoch !== 'string' || epoch === '') throw new Error(`no epoch in ${JSON.stringify(frame)}`)
  return rest
}

/**
 * Request and reply between the processes of one chat, over any bus that can put a message in a
 * process's inbox (Redis pub/sub, or memory in tests). Who must answer is always counted from the
 * list of live processes the caller passes, never from how many subscribers a publish reached
 * (on a Redis Cluster that count only covers one shard).
 */

/** Carries a message to one process's inbox. */
export interface RpcBus {
  send (node: string, message: string): Promise<void>
}

type Wire =
  | { t: 'q', id: number, from: string, req: unknown }
  | { t: 'a', id: number, result: unknown }

interface Waiting {
  expected: number
  replies: unknown[]
  timer: NodeJS.Timeout
  done: (replies: unknown[]) => void
}

export class ClusterRpc<Req, Res> {
  readonly #self: string
  readonly #bus: RpcBus
  readonly #handle: (req: Req, from: string) => Promise<Res> | Res
  readonly #timeout: number
  readonly #waiting = new Map<number, Waiting>()
  #next = 0
  #closed = false

  /**
   * @param self this process's id (the inbox replies come to)
   * @param handle answers a request from another process
   * @param timeout how long a request waits for its replies, ms
   */
  constructor (self: string, bus: RpcBus, handle: (req: Req, from: string) => Promise<Res> | Res, timeout: number) {
    this.#self = self
    this.#bus = bus
    this.#handle = handle
    this.#timeout = timeout
  }

  /** Asks one process: its answer, or `undefined` when none came in time (or the send failed). */
  async request (node: string, req: Req): Promise<{ result: Res } | undefined> {
    const [reply] = await this.gather([node], req)
    return reply === undefined ? undefined : { result: reply }
  }

  /** Asks every process named: the answers that came in time (all of them when all answered). */
  async gather (nodes: string[], req: Req): Promise<Res[]> {
    const targets = nodes.filter((n) => n !== this.#self)
    if (targets.length === 0 || this.#closed) return []
    const id = ++this.#next
    const replies = new Promise<unknown[]>((resolve) => {
      const waiting: Waiting = {
        expected: targets.length,
        replies: [],
        timer: setTimeout(() => this.#finish(id), this.#timeout),
        done: resolve
      }
      this.#waiting.set(id, waiting)
    })
    const message = JSON.stringify({ t: 'q', id, from: this.#self, req } satisfies Wire)
    // A process that cannot be reached simply does not answer: the deadline settles it.
    await Promise.all(targets.map(async (node) => { await this.#bus.send(node, message).catch(() => {}) }))
    return await replies as Res[]
  }

  /** A message in this process's inbox: a request to answer, or a reply to collect. */
  receive (raw: string): void {
    let wire: Wire
    try {
      wire = JSON.parse(raw) as Wire
    } catch {
      return
    }
    if (wire.t === 'a') {
      const waiting = this.#waiting.get(wire.id)
      if (waiting === undefined) return
      waiting.replies.push(wire.result)
      if (waiting.replies.length >= waiting.expected) this.#finish(wire.id)
      return
    }
    if (wire.t !== 'q' || wire.from === this.#self) return
    const answer = (result: unknown): void => {
      void this.#bus.send(wire.from, JSON.stringify({ t: 'a', id: wire.id, result } satisfies Wire)).catch(() => {})
    }
    Promise.resolve()
      .then(() => this.#handle(wire.req as Req, wire.from))
      .then(answer, () => { /* no answer: the asker's deadline says so */ })
  }

  #finish (id: number): void {
    const waiting = this.#waiting.get(id)
    if (waiting === undefined) return
    this.#waiting.delete(id)
    clearTimeout(waiting.timer)
    waiting.done(waiting.replies)
  }

  /** Settles every waiting request with what it has; nothing more is sent. */
  close (): void {
    this.#closed = true
    for (const id of [...this.#waiting.keys()]) this.#finish(id)
  }
}

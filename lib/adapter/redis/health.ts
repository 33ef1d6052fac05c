/**
 * The command connection's health: every command fails fast with FST_CHAT_UNAVAILABLE while the
 * connection is not ready, and after `timeout` ms without an answer, so that nothing queues while
 * Redis is away. Going away and coming back are reported once each.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import { FST_CHAT_UNAVAILABLE } from '../../errors.js'

export type Client = Redis | Cluster

function noop (): void {}

/** Errors of a cluster changing under a command, or of a connection going: retryable, not bugs. */
const TRANSIENT = /^(ASK|MOVED) \d+ |CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|Connection is closed|Failed to refresh slots|None of startup nodes|should belong to the same slots allocation group/

export class Health {
  readonly #client: Client
  readonly #timeout: number
  readonly #log: FastifyBaseLogger
  readonly #recovered: () => void
  #down = false
  #closed = false
  readonly #onReady = (): void => {
    if (!this.#down || this.#closed) return
    this.#down = false
    this.#log.info('fastify-chat: Redis is back; rewriting this process\'s clients and members')
    this.#recovered()
  }

  readonly #onDown = (err?: Error): void => { this.lost(err) }

  /** @param recovered runs once each time the connection is back after being lost */
  constructor (client: Client, timeout: number, log: FastifyBaseLogger, recovered: () => void) {
    this.#client = client
    this.#timeout = timeout
    this.#log = log
    this.#recovered = recovered
    client.on('ready', this.#onReady)
    client.on('close', this.#onDown)
    client.on('error', this.#onDown)
  }

  get down (): boolean {
    return this.#down
  }

  get client (): Client {
    return this.#client
  }

  /** The backend (or a subscriber) went away: logged once, until it is back. */
  lost (err?: Error): void {
    if (this.#down || this.#closed) return
    this.#down = true
    this.#log.warn({ err }, 'fastify-chat: Redis is unreachable; chat requests that need it are answered UNAVAILABLE until it is back')
  }

  /** Runs a command, failing fast (and retryable) when Redis is unreachable or slow. */
  async run<T> (command: (client: Client) => Promise<T>): Promise<T> {
    return await this.start(command).answer
  }

  /**
   * Starts a command: its `answer` fails fast as `run`'s does, `settled` is when the command
   * itself is done in Redis (answered, or given up by ioredis), which may be later than a
   * deadline: what must not overtake it (a room's next call) waits for that. The deadline counts
   * from `since` (default now): a call for requests that waited past it is not sent at all.
   */
  start<T> (command: (client: Client) => Promise<T>, since?: number): { answer: Promise<T>, settled: Promise<unknown> } {
    const client = this.#client
    if (client.status !== 'ready') return { answer: Promise.reject(new FST_CHAT_UNAVAILABLE(`Redis is ${client.status}`)), settled: Promise.resolve() }
    const left = since === undefined ? this.#timeout : since + this.#timeout - Date.now()
    if (left <= 0) return { answer: Promise.reject(new FST_CHAT_UNAVAILABLE(`no answer from Redis within ${this.#timeout} ms`)), settled: Promise.resolve() }
    let sent: Promise<T>
    try {
      sent = command(client)
    } catch (err) {
      sent = Promise.reject(err)
    }
    // Derived before the answer is: it settles first when the command does.
    const settled = sent.then(noop, noop)
    return { answer: this.#answer(client, sent, left), settled }
  }

  async #answer<T> (client: Client, sent: Promise<T>, left: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        sent,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new FST_CHAT_UNAVAILABLE(`no answer from Redis within ${this.#timeout} ms`)), left)
        })
      ])
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_CHAT_UNAVAILABLE') throw err
      // A connection failure while the command was on its way, or a cluster mid-failover or
      // mid-resharding (a redirection ioredis did not follow, an auto-pipeline split by a slot
      // that moved): the call may be tried again.
      const message = (err as Error).message ?? ''
      if (client.status !== 'ready' || TRANSIENT.test(message)) {
        throw new FST_CHAT_UNAVAILABLE(message)
      }
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  close (): void {
    this.#closed = true
    this.#client.off('ready', this.#onReady)
    this.#client.off('close', this.#onDown)
    this.#client.off('error', this.#onDown)
  }
}

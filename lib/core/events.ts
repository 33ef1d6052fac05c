/**
 * `app.chat.on(...)`: after-the-fact events for the host's own code. Each is emitted once in the
 * whole chat, by the process where it happened, after it is done (a message: committed, or
 * published without a store). A listener that throws (or rejects) is logged and never reaches the
 * chat.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { ChatEventMap, ChatEventName } from '../types.js'

type Listener<E extends ChatEventName> = (event: ChatEventMap[E]) => unknown

export class ChatEvents {
  readonly #listeners = new Map<ChatEventName, Set<Listener<any>>>()
  readonly #log: FastifyBaseLogger

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  on<E extends ChatEventName>(event: E, listener: Listener<E>): void {
    let set = this.#listeners.get(event)
    if (set === undefined) this.#listeners.set(event, set = new Set())
    set.add(listener)
  }

  off<E extends ChatEventName>(event: E, listener: Listener<E>): void {
    this.#listeners.get(event)?.delete(listener)
  }

  /** Whether anyone listens: the data of an event nobody hears is not even built. */
  has (event: ChatEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0
  }

  emit<E extends ChatEventName>(event: E, data: ChatEventMap[E]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of set) {
      try {
        const r = listener(data)
        if (r instanceof Promise) r.catch((err: unknown) => this.#failed(event, err))
      } catch (err) {
        this.#failed(event, err)
      }
    }
  }

  #failed (event: ChatEventName, err: unknown): void {
    this.#log.error({ err, event }, 'fastify-chat: an app.chat.on() listener failed')
  }

  clear (): void {
    this.#listeners.clear()
  }
}

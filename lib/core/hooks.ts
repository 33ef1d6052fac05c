/**
 * The host's `onMessage` hook: run with a deadline, its answer checked, and a sender's messages
 * released in the order sent, whatever each hook takes (hooks of one sender run at once; only
 * their results wait for the earlier ones).
 */
import type { FastifyBaseLogger } from 'fastify'
import { FST_CHAT_UNAVAILABLE } from '../errors.js'
import type { ResolvedOptions } from '../options.js'
import type { Meta } from '../protocol/schemas.js'
import type { MessageContext } from '../types.js'

/** What the hook decided: send (what it said, maybe changed), or refuse with a reason. */
export type Verdict = { content: string, meta: Meta | undefined } | { reject: string }

/** What a sender is told when a hook failed (its error stays in the log). */
export const HOOK_FAILED = 'the message was refused'

export class Hooks {
  readonly #opts: ResolvedOptions
  readonly #log: FastifyBaseLogger
  /** Each sender's last verdict in line: the next one is released after it. */
  readonly #tails = new WeakMap<object, Promise<unknown>>()

  constructor (opts: ResolvedOptions, log: FastifyBaseLogger) {
    this.#opts = opts
    this.#log = log
  }

  get active (): boolean {
    return this.#opts.onMessage !== undefined
  }

  /**
   * Runs the hook for a sender's message and calls `then` with its verdict once the sender's
   * earlier messages have had theirs: `then`'s own work (a publish) starts in the order sent.
   */
  async inOrder<T> (sender: object, ctx: MessageContext, then: (v: Verdict) => Promise<T> | T): Promise<T> {
    const verdict = this.run(ctx)
    const previous = this.#tails.get(sender)
    const gate = previous === undefined ? verdict : previous.then(async () => await verdict, async () => await verdict)
    const result = gate.then(then)
    this.#tails.set(sender, gate.catch(noop))
    return await result
  }

  /** The hook's verdict; rejects FST_CHAT_UNAVAILABLE when it takes longer than hookTimeout. */
  async run (ctx: MessageContext): Promise<Verdict> {
    const hook = this.#opts.onMessage
    if (hook === undefined) return { content: ctx.content, meta: ctx.meta }
    let timer: NodeJS.Timeout | undefined
    let answer: unknown
    try {
      answer = await Promise.race([
        Promise.resolve().then(() => hook(ctx)),
        new Promise((_resolve, reject) => {
          timer = setTimeout(() => {
            const told = `the message could not be checked within ${this.#opts.hookTimeout} ms: resend later with the same ref`
            reject(Object.assign(new FST_CHAT_UNAVAILABLE(told), { told }))
          }, this.#opts.hookTimeout)
        })
      ])
    } catch (err) {
      if ((err as { code?: string }).code === 'FST_CHAT_UNAVAILABLE') {
        this.#log.warn({ room: ctx.room, clientId: ctx.clientId, timeout: this.#opts.hookTimeout }, 'fastify-chat: onMessage timed out')
        throw err
      }
      this.#log.error({ err, room: ctx.room, clientId: ctx.clientId }, 'fastify-chat: onMessage threw; the message is refused')
      return { reject: HOOK_FAILED }
    } finally {
      clearTimeout(timer)
    }
    return this.#checked(answer, ctx)
  }

  #checked (answer: unknown, ctx: MessageContext): Verdict {
    if (answer === undefined || answer === null) return { content: ctx.content, meta: ctx.meta }
    const bad = (why: string): Verdict => {
      this.#log.error({ room: ctx.room, clientId: ctx.clientId, why }, 'fastify-chat: onMessage answered something it may not; the message is refused')
      return { reject: HOOK_FAILED }
    }
    if (typeof answer !== 'object') return bad('not an object')
    const a = answer as { reject?: unknown, content?: unknown, meta?: unknown }
    if ('reject' in a) return typeof a.reject === 'string' && a.reject !== '' ? { reject: a.reject.slice(0, 500) } : bad('reject must be a non-empty string')
    let content = ctx.content
    if (a.content !== undefined) {
      if (typeof a.content !== 'string' || a.content === '' || a.content.length > this.#opts.maxMessageLength || a.content.includes('\0')) {
        return bad(`content must be a string of 1 to ${this.#opts.maxMessageLength} characters without U+0000`)
      }
      content = a.content
    }
    let meta = ctx.meta
    if (a.meta !== undefined) {
      if (a.meta === null || typeof a.meta !== 'object' || Array.isArray(a.meta)) return bad('meta must be an object')
      let json: string | undefined
      try {
        json = JSON.stringify(a.meta)
      } catch {}
      if (json === undefined || json.includes('\\u0000')) return bad('meta must be JSON without U+0000')
      meta = a.meta as Meta
    }
    return { content, meta }
  }
}

function noop (): void {}

/**
 * The client's typing debounce: one `typing: true` per TYPING_EVERY_MS while the user types,
 * `typing: false` after TYPING_IDLE_MS without a keystroke (or when told), nothing after a message
 * (the server ends typing when the user says something).
 */

/** While typing, `true` is sent at most this often, ms. */
export const TYPING_EVERY_MS = 3000
/** Without a keystroke for this long, `false` is sent, ms. */
export const TYPING_IDLE_MS = 5000

export class TypingDebounce {
  readonly #send: (room: string, on: boolean) => void
  readonly #every: number
  readonly #idle: number
  readonly #rooms = new Map<string, { sentAt: number, idle: ReturnType<typeof setTimeout> }>()

  constructor (send: (room: string, on: boolean) => void, every = TYPING_EVERY_MS, idle = TYPING_IDLE_MS) {
    this.#send = send
    this.#every = every
    this.#idle = idle
  }

  /** A keystroke (`on`) or a cleared input (`!on`) in `room`. */
  typing (room: string, on: boolean): void {
    const state = this.#rooms.get(room)
    if (state !== undefined) clearTimeout(state.idle)
    if (!on) {
      if (state !== undefined) this.#send(room, false)
      this.#rooms.delete(room)
      return
    }
    const now = Date.now()
    const due = state === undefined || now - state.sentAt >= this.#every
    const sentAt = due ? now : state.sentAt
    if (due) this.#send(room, true)
    const idle = setTimeout(() => this.typing(room, false), this.#idle)
    if (typeof idle === 'object' && 'unref' in idle) idle.unref()
    this.#rooms.set(room, { sentAt, idle })
  }

  /** A message went to `room`: typing there is over without a word. */
  sent (room: string): void {
    const state = this.#rooms.get(room)
    if (state === undefined) return
    clearTimeout(state.idle)
    this.#rooms.delete(room)
  }

  clear (): void {
    for (const state of this.#rooms.values()) clearTimeout(state.idle)
    this.#rooms.clear()
  }
}

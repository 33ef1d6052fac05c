/**
 * One round trip per room per event-loop turn: what is asked of the same room (its messages, its
 * joins, its leaves) within one turn goes to Redis in one script call, in the order it was asked.
 * Redis's cost is mostly per call (reading and answering the command), not per item, so a busy
 * room or a reconnection storm costs a fraction of one call per item.
 */
export class Batcher<I, O> {
  readonly #run: (key: string, items: I[]) => Promise<O[]>
  readonly #max: number
  #waiting = new Map<string, Array<{ item: I, resolve: (o: O) => void, reject: (e: unknown) => void }>>()
  #scheduled = false

  /** @param run does one call for a key's items and resolves one result per item, in order */
  constructor (run: (key: string, items: I[]) => Promise<O[]>, max = 256) {
    this.#run = run
    this.#max = max
  }

  async add (key: string, item: I): Promise<O> {
    return await new Promise<O>((resolve, reject) => {
      let list = this.#waiting.get(key)
      if (list === undefined) this.#waiting.set(key, list = [])
      list.push({ item, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  #flush (): void {
    this.#scheduled = false
    const waiting = this.#waiting
    this.#waiting = new Map()
    for (const [key, list] of waiting) {
      for (let i = 0; i < list.length; i += this.#max) {
        const chunk = list.slice(i, i + this.#max)
        this.#run(key, chunk.map((w) => w.item)).then((results) => {
          for (let j = 0; j < chunk.length; j++) chunk[j].resolve(results[j])
        }, (err: unknown) => {
          for (const w of chunk) w.reject(err)
        })
      }
    }
  }
}

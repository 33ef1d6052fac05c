/**
 * Pings every connection each `interval` ms; one that has not answered the previous ping is
 * dead and is let go. Slow consumers are judged on the same beat, even when nothing is sent.
 */
import type { Connection } from '../transport/connection.js'

export class Heartbeat {
  #timer: NodeJS.Timeout | undefined

  /** @param dead takes a connection that missed its pong out of the chat (it is then terminated) */
  start (interval: number, connections: () => Iterable<Connection>, dead: (conn: Connection) => void): void {
    if (interval === 0 || this.#timer !== undefined) return
    this.#timer = setInterval(() => {
      for (const conn of connections()) {
        conn.checkSlow()
        if (conn.alive) {
          conn.ping()
          continue
        }
        conn.log.info('no pong since the last ping: terminating')
        dead(conn)
        conn.terminate()
      }
    }, interval).unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

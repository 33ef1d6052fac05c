/**
 * Pings every connection each `interval` ms; one that has not answered the previous ping is
 * dead and is let go. Slow consumers are judged on the same beat, even when nothing is sent.
 */
import type { FastifyBaseLogger } from 'fastify'
import { CLOSE_GRACE_MS, CloseCode } from '../constants.js'
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

/**
 * Closes every socket with 1001 and waits for their closing handshakes, cutting the ones that have
 * not finished after CLOSE_GRACE_MS (a shutdown: the same sockets' last beat).
 */
export async function closeAll (open: Connection[], log: FastifyBaseLogger): Promise<void> {
  if (open.length === 0) return
  log.info({ connections: open.length }, 'closing chat connections')
  await new Promise<void>((resolve) => {
    let waiting = open.length
    const grace = setTimeout(() => {
      for (const conn of open) if (!conn.isClosed) conn.terminate()
    }, CLOSE_GRACE_MS).unref()
    const closed = (): void => {
      if (--waiting > 0) return
      clearTimeout(grace)
      resolve()
    }
    for (const conn of open) {
      conn.onceClosed(closed)
      conn.close(CloseCode.GOING_AWAY, 'server shutting down')
    }
  })
}

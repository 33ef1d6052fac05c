/**
 * The end of an event-loop turn, where writes are made. The frames a connection got during the
 * turn are written then, together (a lone frame with one write, several with one writev), and a
 * socket upgraded during the turn keeps its `101 Switching Protocols` until then, so that the
 * response and the connection's first frames (its welcome) leave in the same write: a system call
 * and a TCP segment fewer per connection. Nothing waits past its turn (setImmediate runs in the
 * same loop iteration).
 */
import type { Duplex } from 'node:stream'

/** What has frames to write at the end of the turn. */
export interface Flushable {
  flush (): void
}

const queued: Flushable[] = []
const held: Duplex[] = []
let scheduled = false

function endOfTurn (): void {
  scheduled = false
  for (let i = 0; i < queued.length; i++) queued[i].flush()
  queued.length = 0
  // After the frames: a held socket's response and its frames go out in one write.
  for (let i = 0; i < held.length; i++) held[i].uncork()
  held.length = 0
}

function schedule (): void {
  if (scheduled) return
  scheduled = true
  setImmediate(endOfTurn)
}

/** Calls `target.flush()` at the end of this turn (once per call: call it once per turn). */
export function flushAtEndOfTurn (target: Flushable): void {
  queued.push(target)
  schedule()
}

/**
 * Holds what is written to `socket` until the end of this turn (it is corked now and uncorked
 * then, whatever happens meanwhile: a socket ended or destroyed is uncorked harmlessly).
 */
export function holdUntilEndOfTurn (socket: Duplex): void {
  socket.cork()
  held.push(socket)
  schedule()
}

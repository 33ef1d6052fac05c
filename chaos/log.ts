/**
 * What a chaos run records, and what its checker reads: each client's log (what it asked, what it
 * was answered, every event it got), the final history as the store keeps it, and the faults.
 * Plain data (JSON lines on disk), so that a run can be checked again, or a log written by hand.
 */

/** One line of a client's log. `t`: ms since the run started; `n`: the client's own request number. */
export type Entry =
  /** The socket opened, to process `node`. */
  | { t: number, k: 'open', node: number }
  | { t: number, k: 'close', code: number }
  /** A message to a room, or a direct message (`to`): its content is `<client>:<n>`. */
  | { t: number, k: 'send', n: number, room?: string, to?: string }
  | { t: number, k: 'edit', n: number, room: string, id: string }
  | { t: number, k: 'delete', n: number, room: string, id: string }
  | { t: number, k: 'join', n: number, room: string }
  | { t: number, k: 'leave', n: number, room: string }
  /** A request's success: a message's or change's ack (id, seq), a join's or leave's reply. */
  | { t: number, k: 'ok', n: number, id?: string, seq?: number }
  /** A request's failure: the server's code, or 'timeout' / 'lost' (the connection went before the reply). */
  | { t: number, k: 'fail', n: number, code: string }
  /** The client is in the room from `seq` on (`recovered`: a resume that missed nothing). */
  | { t: number, k: 'joined', room: string, seq: number, epoch: string, recovered?: boolean }
  | { t: number, k: 'left', room: string }
  | { t: number, k: 'message', room: string, id: string, seq: number, epoch: string, userId: string, content: string, to?: string }
  | { t: number, k: 'edited', room: string, id: string, seq: number, content: string }
  | { t: number, k: 'deleted', room: string, id: string, seq: number }
  /** A page of the room's history (REST), each message with its id and seq. */
  | { t: number, k: 'page', room: string, messages: Array<{ id: string, seq: number }> }
  /** With --raw: a frame as the socket got it, before the client's own handling (type room seq ref). */
  | { t: number, k: 'raw', f: string }

/** An entry before it is stamped with its time. */
export type Unstamped = Entry extends unknown ? DistributiveOmit<Entry, 't'> : never
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export interface ClientLog {
  /** The client's name (its messages' content starts with it). */
  client: string
  userId: string
  entries: Entry[]
}

/** A room as the store keeps it at the end: its epoch, and every event in seq order. */
export interface FinalRoom {
  room: string
  epoch: string
  events: FinalEvent[]
  /** A direct conversation's two participants. */
  participants?: [string, string]
}

export type FinalEvent =
  /** A message at its latest version (content '' once deleted). */
  | { seq: number, kind: 'message', id: string, userId: string, content: string, deleted: boolean }
  | { seq: number, kind: 'edited', id: string, content: string }
  | { seq: number, kind: 'deleted', id: string }

/** A fault the run made: what, where, from when to when (ms since the start). */
export interface FaultRecord {
  kind: string
  target: string
  from: number
  to: number
}

/** Codes that say a request may or may not have been done: not a refusal. */
export const UNKNOWN_OUTCOME = new Set(['UNAVAILABLE', 'timeout', 'lost', 'TIMEOUT'])

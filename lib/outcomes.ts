/**
 * What a join or a leave came to, and the one table that says what each refusal means on every
 * path: the error frame a socket gets (code and message), and the coded error `app.chat` rejects
 * with (which the REST routes answer with its status). Socket, REST and `app.chat` all read it.
 */
import { ErrorCode } from './constants.js'
import {
  FST_CHAT_BANNED, FST_CHAT_JOIN_FORBIDDEN, FST_CHAT_NOT_A_MEMBER, FST_CHAT_ROOM_FULL, FST_CHAT_SERVER_FULL, FST_CHAT_TOO_MANY_ROOMS
} from './errors.js'

/** How a join ended: done, already a member, or refused for one reason (each limit its own). */
export type JoinOutcome = 'joined' | 'already' | JoinRefusal
export type JoinRefusal = 'too-many-rooms' | 'server-full' | 'room-full' | 'forbidden' | 'banned'
export type LeaveOutcome = 'left' | 'not-member'

/** The limits a refusal's words cite. */
export interface RefusalLimits {
  readonly maxRoomsPerConnection: number
  readonly maxRoomsPerProcess: number
}

interface Refusal {
  readonly code: ErrorCode
  /** The error frame's message, to the client that asked. */
  readonly message: (room: string, limits: RefusalLimits) => string
  /** The error for `app.chat` (and so REST); `client` and `room` come quoted and shortened. */
  readonly error: (client: string, room: string, limits: RefusalLimits) => Error
}

const REFUSALS: Readonly<Record<JoinRefusal | 'not-member', Refusal>> = {
  'too-many-rooms': {
    code: ErrorCode.TOO_MANY_ROOMS,
    message: (_room, l) => `already in ${l.maxRoomsPerConnection} rooms, the most a connection may be in: leave one first`,
    error: (client, _room, l) => new FST_CHAT_TOO_MANY_ROOMS(client, l.maxRoomsPerConnection)
  },
  'server-full': {
    code: ErrorCode.SERVER_FULL,
    message: (room, l) => `this server already hosts ${l.maxRoomsPerProcess} rooms, the most it may: room "${room}" cannot start here now; try again later`,
    error: (_client, room, l) => new FST_CHAT_SERVER_FULL(l.maxRoomsPerProcess, room)
  },
  'room-full': {
    code: ErrorCode.ROOM_FULL,
    message: (room) => `room "${room}" is full`,
    error: (_client, room) => new FST_CHAT_ROOM_FULL(room)
  },
  forbidden: {
    code: ErrorCode.FORBIDDEN,
    message: (room) => `you may not join room "${room}"`,
    error: (_client, room) => new FST_CHAT_JOIN_FORBIDDEN(room)
  },
  banned: {
    code: ErrorCode.BANNED,
    message: (room) => `you are banned from room "${room}"`,
    error: (_client, room) => new FST_CHAT_BANNED(`from room ${room}`)
  },
  'not-member': {
    code: ErrorCode.NOT_A_MEMBER,
    message: (room) => `not a member of room "${room}"`,
    error: (client, room) => new FST_CHAT_NOT_A_MEMBER(client, room)
  }
}

/** The refusal behind an outcome, or undefined when the outcome is not one. */
export function refusal (outcome: string): Refusal | undefined {
  return Object.hasOwn(REFUSALS, outcome) ? REFUSALS[outcome as keyof typeof REFUSALS] : undefined
}

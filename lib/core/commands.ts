/**
 * Commands on a client this process holds, from `app.chat` or another process: join, leave,
 * disconnect, a ban or mute of its user (kept by the connection, a ban acted on at once), and its
 * user's read marker moving (a `read` frame passed on).
 */
import type { RemoteCommand, RemoteResult } from '../adapter/contract.js'
import { CloseCode } from '../constants.js'
import type { LeaveReason, Restriction } from '../model.js'
import type { JoinOutcome } from '../outcomes.js'
import type { ReadFrame } from '../protocol/schemas.js'
import type { Connection } from '../transport/connection.js'
import { Restrictions } from './restrictions.js'

export interface CommandTarget {
  membership: { has: (room: string, clientId: string) => boolean }
  send: (conn: Connection, frame: ReadFrame) => void
  joinRoom: (conn: Connection, room: string) => Promise<JoinOutcome>
  leaveRoom: (conn: Connection, room: string, reason: LeaveReason) => Promise<boolean>
}

/**
 * Runs a command on a local client in its own queue, after the requests it already sent (a direct
 * conversation's join at once: two users writing to each other must not wait on each other).
 */
export async function inQueue (target: CommandTarget, conn: Connection, command: RemoteCommand): Promise<RemoteResult> {
  if (command.op === 'join' && command.atOnce === true) return await target.joinRoom(conn, command.room)
  // A frame to pass on: no reason to wait behind the client's requests.
  if (command.op === 'read') {
    if (command.unlessIn === undefined || !target.membership.has(command.unlessIn, conn.id)) target.send(conn, command.frame)
    return 'done'
  }
  return await new Promise<RemoteResult>((resolve, reject) => {
    const scheduled = conn.schedule(async () => {
      try {
        resolve(await runCommand(target, conn, command))
      } catch (err) {
        reject(err)
      }
    })
    // Closed or swamped: as if it had closed a moment earlier.
    if (!scheduled) resolve('not-found')
  })
}

async function runCommand (target: CommandTarget, conn: Connection, command: RemoteCommand): Promise<RemoteResult> {
  switch (command.op) {
    case 'join': return await target.joinRoom(conn, command.room)
    case 'leave': return await target.leaveRoom(conn, command.room, 'removed') ? 'left' : 'not-member'
    case 'disconnect':
      conn.close(command.code, command.reason)
      return 'closed'
    case 'restrict': return await restrict(target, conn, command.restriction)
    case 'lift':
      conn.restrictions?.lift(command.kind, command.room)
      return 'done'
    case 'read': return 'done'
  }
}

/**
 * What a connection was told while it was opening (admitted.ts), applied in order when it opens,
 * before anything else: false when that leaves its user banned from the whole chat (it is closed).
 */
export function applyTold (conn: Connection, told: Array<Extract<RemoteCommand, { op: 'restrict' | 'lift' }>>): boolean {
  for (const cmd of told) {
    if (cmd.op === 'restrict') (conn.restrictions ??= new Restrictions()).add(cmd.restriction)
    else conn.restrictions?.lift(cmd.kind, cmd.room)
  }
  if (conn.restrictions?.find('ban', undefined) === undefined) return true
  conn.close(CloseCode.BANNED, 'banned')
  return false
}

async function restrict (target: CommandTarget, conn: Connection, r: Restriction): Promise<RemoteResult> {
  (conn.restrictions ??= new Restrictions()).add(r)
  if (r.kind !== 'ban') return 'done'
  if (r.room === undefined) {
    conn.close(CloseCode.BANNED, 'banned')
    return 'closed'
  }
  await target.leaveRoom(conn, r.room, 'banned')
  return 'done'
}

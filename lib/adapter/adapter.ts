import type { FastifyBaseLogger } from 'fastify'
import type { LeaveReason } from '../constants.js'
import type { Member, Registry } from '../registry.js'
import type { ChatStats, MemberInfo, RoomInfo } from '../types.js'

/** An operation on a client that another process holds (`app.chat.join/leave/disconnect`). */
export type RemoteCommand =
  | { op: 'join', room: string }
  | { op: 'leave', room: string }
  | { op: 'disconnect', code: number, reason: string }

/**
 * The outcome of a command: what the holding process answered (`joined`, `already`, `full`,
 * `left`, `not-member`, `closed`), or `not-found` when no live process holds the client, or
 * `timeout` when its process did not answer in time.
 */
export type RemoteResult = 'joined' | 'already' | 'full' | 'left' | 'not-member' | 'closed' | 'not-found' | 'timeout'

/**
 * What the plugin hands an adapter: this process's membership (kept by the plugin, read-only
 * to the adapter), the way to reach this process's sockets, and the way to act on them.
 */
export interface AdapterNode {
  /** This process's memberships. */
  readonly registry: Registry
  /**
   * Writes one pre-serialized frame to every local member of `room` but `except`.
   * An adapter calls it for every frame published to a room this process has members in.
   */
  deliver (room: string, frame: string, except?: string): void
  /** Runs a command on a client this process holds (asked by another process). */
  execute (clientId: string, command: RemoteCommand): Promise<RemoteResult>
  /** This process's own counters. */
  localStats (): ChatStats
  /** The user id of a local client, or undefined. */
  userOf (clientId: string): string | undefined
  /** Every client this process holds. */
  localClients (): Iterable<{ clientId: string, userId: string }>
  /**
   * A member was removed by the adapter, not by its connection (its process died, or it left
   * while the store was unreachable): tell the room (`userLeft` with `reason`).
   */
  lost (room: string, clientId: string, userId: string, members: number, reason: LeaveReason): void
  /** The plugin's logger. */
  readonly log: FastifyBaseLogger
}

/**
 * The storage and transport contract behind `app.chat` (as `socket.io-adapter`'s adapter):
 * the plugin keeps this process's memberships in its registry and tells the adapter of every
 * change; the adapter answers the questions that span processes and carries frames to them.
 * The in-memory adapter is the single-process default; the Redis adapter spans processes.
 *
 * A method that needs an unreachable backing store rejects with `FST_CHAT_UNAVAILABLE`
 * (a retryable error) instead of waiting.
 */
export interface ChatAdapter {
  /** A short name for logs, such as `memory`. */
  readonly name: string
  /** Called once when the plugin starts. */
  init (node: AdapterNode): Promise<void>
  /** A client connected to this process. */
  connect (clientId: string, userId: string): Promise<void>
  /** A client of this process is gone (after it left all its rooms). */
  disconnect (clientId: string): Promise<void>
  /** A local client joined `room` (already in the node's registry); resolves with the room's member count. */
  join (room: string, member: Member): Promise<number>
  /** A local client left `room` (already gone from the node's registry); resolves with the room's member count. */
  leave (room: string, clientId: string): Promise<number>
  /** Delivers a frame to every member of `room`, on every process, but `except`, each exactly once. */
  publish (room: string, frame: string, except?: string): Promise<void>
  /** Every room with members, sorted by name. */
  rooms (): Promise<RoomInfo[]>
  /** One room, or null if it has no members. */
  room (name: string): Promise<RoomInfo | null>
  /** A room's members in join order. */
  members (name: string): Promise<MemberInfo[]>
  /** Runs a command on a client held by another process. */
  command (clientId: string, command: RemoteCommand): Promise<RemoteResult>
  /** Counters summed over every live process (this one's given). */
  stats (local: ChatStats): Promise<ChatStats>
  /** Releases what the adapter created (never a client the host passed in). */
  close (): Promise<void>
}

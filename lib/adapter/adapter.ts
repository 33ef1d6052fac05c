import type { Member, Registry } from '../registry.js'
import type { MemberInfo, RoomInfo } from '../types.js'

/**
 * What the plugin hands an adapter: this process's membership (kept by the plugin, read-only
 * to the adapter) and the way to reach this process's sockets.
 */
export interface AdapterNode {
  /** This process's memberships. */
  readonly registry: Registry
  /**
   * Writes one pre-serialized frame to every local member of `room` but `except`.
   * An adapter calls it for frames published here and for frames that arrive from other processes.
   */
  deliver (room: string, frame: string, except?: string): void
}

/**
 * The storage and transport contract behind `app.chat` (as `socket.io-adapter`'s adapter):
 * the plugin keeps this process's memberships in its registry and tells the adapter of every
 * change; the adapter answers the questions that span processes and carries frames to them.
 * The in-memory adapter is the single-process default; a Redis one can take its place without
 * touching the socket or REST code.
 *
 * Every method may be asked to fail (rejecting) when the backing store is unreachable.
 */
export interface ChatAdapter {
  /** A short name for logs, such as `memory`. */
  readonly name: string
  /** Called once when the plugin starts. */
  init (node: AdapterNode): Promise<void>
  /** A local client joined `room` (already in the node's registry); resolves with the room's member count. */
  join (room: string, member: Member): Promise<number>
  /** A local client left `room` (already gone from the node's registry); resolves with the room's member count. */
  leave (room: string, clientId: string): Promise<number>
  /** Delivers a frame to every member of `room`, on every process, but `except`. */
  publish (room: string, frame: string, except?: string): Promise<void>
  /** Every room with members, sorted by name. */
  rooms (): Promise<RoomInfo[]>
  /** One room, or null if it has no members. */
  room (name: string): Promise<RoomInfo | null>
  /** A room's members in join order. */
  members (name: string): Promise<MemberInfo[]>
  /** Releases what the adapter created (never a client the host passed in). */
  close (): Promise<void>
}

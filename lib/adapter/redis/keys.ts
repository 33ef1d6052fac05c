/**
 * Every key and channel name of the Redis adapter, built here and nowhere else (never inside a
 * script). A room's keys all carry the room's hash tag `{r:<room>}`, so that one script touches
 * one slot; a process's keys carry `{n:<node>}`, a user's `{u:<digest>}`. The only keys outside a
 * tag are `nodes` (one entry per process, written once per heartbeat) and the 16 buckets of the
 * room index: nothing is written per connection or per message outside a room's or user's slot.
 *
 *   {r:R}:m          ZSET   "<clientId>\n<userId>" -> joinedAt       the room's members, in join order
 *   {r:R}:n:<node>   SET    "<clientId>\n<userId>"                   that process's members of the room (to reap)
 *   {r:R}:u          HASH   userId -> connections                   the room's users (a user with two tabs is one)
 *   {r:R}:un         HASH   userId -> display name                  their names, while they are in the room
 *   {r:R}:meta       HASH   s (newest seq), e (epoch), o:<node> (that process's last message or
 *                           change call: "<id>\n<answer>", so that a call sent twice is done once)
 *   {r:R}:h          STREAM <seq>-0 -> t (ms), f (frame), i (a message's id) or k (an edit or deletion)
 *                                   and r (the seq of its message)   the history (at most 2 x size)
 *   {r:R}:v          HASH   seq -> "e" or "d" (deleted) + frame     edited and deleted messages' latest versions,
 *                           seq -> "x"                              and edits of deleted messages (served emptied)
 *   {r:R}:d:<sha1>   STRING "<id> <seq> <epoch> <digest>"            an effectively-once ref
 *   {r:R}:c          channel: the room's frames ("<except>\n<seq>\n<epoch>\n<frame>")
 *   {n:N}:rooms      SET    rooms where the process has members
 *   {n:N}:users      SET    user digests of the process's connections
 *   {n:N}:reaping    STRING lock of the process reaping N (once N is dead)
 *   {n:N}:c          channel: requests to the process, and replies to it
 *   {u:U}:c          ZSET   clientId -> inf                          the user's connections (from admission), cluster-wide
 *   {u:U}:seen       STRING ms                                    when the user's last connection closed (presenceTtl)
 *   {u:U}:p          channel: the user's presence ("1": online; "0 <lastSeen>": offline)
 *   {u:U}:x          HASH   "<kind>\n<room>" -> restriction (JSON)  the user's bans and mutes (room '' : chat-wide)
 *   {u:U}:rd         HASH   room -> seq                             the user's read markers (presenceTtl after the last change)
 *   {r:R}:dm         STRING "<a>\n<b>"                              a direct conversation's participants (sorted)
 *   {u:U}:dm         HASH   room -> the other participant            the user's direct conversations
 *   {u:U}:dn         STRING count                                   new conversations the user started this minute
 *   {r:R}:x:<kind>   HASH   userId -> restriction (JSON)            the room's bans (or mutes), for listings
 *   nodes            ZSET   node id -> heartbeat deadline (ms)       the live processes
 *   {i:K}:rooms      ZSET   room -> 0 (by name)                      room index bucket K of 16
 *   {t:T}            STRING the claims of one-time ticket T
 */
import { createHash } from 'node:crypto'
import { digestBase64url } from '../../hash.js'

/** Buckets of the room index: a room's bucket is a function of its name. */
export const INDEX_BUCKETS = 16

/** A key's digest of a value. Keys outlive processes: it must never change (a test pins it). */
export function digest (value: string): string {
  return digestBase64url('sha1', value).slice(0, 16)
}

export class Keys {
  readonly #p: string

  constructor (prefix: string) {
    this.#p = prefix
  }

  #room (room: string): string { return `${this.#p}{r:${room}}` }
  members (room: string): string { return `${this.#room(room)}:m` }
  nodeMembers (room: string, node: string): string { return `${this.#room(room)}:n:${node}` }
  meta (room: string): string { return `${this.#room(room)}:meta` }
  roomUsers (room: string): string { return `${this.#room(room)}:u` }
  roomNames (room: string): string { return `${this.#room(room)}:un` }
  history (room: string): string { return `${this.#room(room)}:h` }
  versions (room: string): string { return `${this.#room(room)}:v` }
  dedupe (room: string, key: string): string { return `${this.#room(room)}:d:${digest(key)}` }
  roomChannel (room: string): string { return `${this.#room(room)}:c` }

  #node (node: string): string { return `${this.#p}{n:${node}}` }
  nodeRooms (node: string): string { return `${this.#node(node)}:rooms` }
  nodeUsers (node: string): string { return `${this.#node(node)}:users` }
  reapLock (node: string): string { return `${this.#node(node)}:reaping` }
  nodeChannel (node: string): string { return `${this.#node(node)}:c` }

  /** A user's digest: user ids are any string, hash tags must not hold braces. */
  userTag (userId: string): string { return digest(userId) }
  userConnections (userTag: string): string { return `${this.#p}{u:${userTag}}:c` }
  userRestrictions (userTag: string): string { return `${this.#p}{u:${userTag}}:x` }
  userSeen (userTag: string): string { return `${this.#p}{u:${userTag}}:seen` }
  userChannel (userTag: string): string { return `${this.#p}{u:${userTag}}:p` }
  roomRestrictions (room: string, kind: string): string { return `${this.#room(room)}:x:${kind}` }
  participants (room: string): string { return `${this.#room(room)}:dm` }
  userDirect (userTag: string): string { return `${this.#p}{u:${userTag}}:dm` }
  userNewDirect (userTag: string): string { return `${this.#p}{u:${userTag}}:dn` }
  userReads (userTag: string): string { return `${this.#p}{u:${userTag}}:rd` }

  nodes (): string { return `${this.#p}nodes` }
  roomIndex (bucket: number): string { return `${this.#p}{i:${bucket}}:rooms` }
  bucketOf (room: string): number { return createHash('sha1').update(room).digest()[0] % INDEX_BUCKETS }
  ticket (ticket: string): string { return `${this.#p}{t:${ticket}}` }

  /** Room name and channel kind of a channel this adapter subscribes to (undefined: not a room's). */
  roomOf (channel: string): string | undefined {
    const head = `${this.#p}{r:`
    if (!channel.startsWith(head) || !channel.endsWith('}:c')) return undefined
    return channel.slice(head.length, -3)
  }
}

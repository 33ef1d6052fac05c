/**
 * Failovers that may have lost history. Redis replicates asynchronously, so a replica promoted
 * after its master died may lack the master's last writes: a room's newest messages, and with them
 * its seq. Numbering on from there would hand out seqs some clients already have for other
 * messages. So when a room's slot is taken over by what was its replica (a Cluster failover; a
 * slot migrated to another shard moves its keys whole and changes nothing), or the server
 * behind a single connection is another one (a Sentinel failover, a restart: its run_id changed),
 * each process gives the rooms it has members in a new epoch, continuing from the highest seq it
 * delivered: resuming clients are told `recovered: false` instead of silently missing messages.
 * (With the PostgreSQL store, nothing acknowledged is lost in the first place.)
 */
import type { FastifyBaseLogger } from 'fastify'
import { Cluster } from 'ioredis'
import calculateSlot from 'cluster-key-slot'
import type { AdapterNode } from '../contract.js'
import { newEpoch } from '../epoch.js'
import type { Client, Health } from './health.js'
import type { Keys } from './keys.js'
import { scripts } from './scripts.js'

export class Topology {
  readonly #client: Client
  readonly #health: Health
  readonly #keys: Keys
  readonly #node: AdapterNode
  readonly #log: FastifyBaseLogger
  /** Cluster: the nodes of each slot of a local room (master first), as last seen. Single: the server's run_id. */
  readonly #masters = new Map<number, string[]>()
  #runId: string | undefined
  readonly #onRefresh = (): void => { void this.#checkSlots() }

  constructor (client: Client, health: Health, keys: Keys, node: AdapterNode, log: FastifyBaseLogger) {
    this.#client = client
    this.#health = health
    this.#keys = keys
    this.#node = node
    this.#log = log
  }

  async start (): Promise<void> {
    if (this.#client instanceof Cluster) {
      this.#client.on('refresh', this.#onRefresh)
      return
    }
    this.#runId = await this.#serverRunId()
  }

  /** Cluster: remembers who holds a room that now has local members. */
  watch (room: string): void {
    if (!(this.#client instanceof Cluster)) return
    const slot = calculateSlot(this.#keys.meta(room))
    const nodes = this.#client.slots[slot]
    if (nodes !== undefined && nodes.length > 0 && !this.#masters.has(slot)) this.#masters.set(slot, [...nodes])
  }

  /** Single server, after a reconnect: another server (or the same one restarted) rotates every room. */
  async reconnected (): Promise<void> {
    if (this.#client instanceof Cluster) return
    const runId = await this.#serverRunId().catch(() => undefined)
    if (runId === undefined || runId === this.#runId) return
    const before = this.#runId
    this.#runId = runId
    if (before !== undefined) await this.#rotate([...this.#node.membership.rooms()].map(([room]) => room), 'the Redis server changed')
  }

  async #serverRunId (): Promise<string | undefined> {
    const info = await this.#health.run(async (c) => await (c as Exclude<Client, Cluster>).info('server'))
    return /run_id:(\w+)/.exec(info)?.[1]
  }

  async #checkSlots (): Promise<void> {
    const cluster = this.#client as Cluster
    const moved: string[] = []
    for (const [room] of this.#node.membership.rooms()) {
      const slot = calculateSlot(this.#keys.meta(room))
      const nodes = cluster.slots[slot]
      const before = this.#masters.get(slot)
      if (nodes === undefined || nodes.length === 0) continue
      // A replica promoted may lack its master's last writes; another shard's master got the keys whole.
      if (before !== undefined && before[0] !== nodes[0] && before.includes(nodes[0])) moved.push(room)
      this.#masters.set(slot, [...nodes])
    }
    if (moved.length > 0) await this.#rotate(moved, 'their shard failed over')
  }

  async #rotate (rooms: string[], why: string): Promise<void> {
    let rotated = 0
    for (const room of rooms) {
      const at = this.#node.position(room)
      if (at === undefined) continue
      try {
        const epoch = await this.#health.run(async (c) => await scripts.rotate.run(c, [this.#keys.meta(room)], [at.epoch, newEpoch(), at.seq])) as string
        if (epoch !== at.epoch) rotated++
      } catch (err) {
        this.#log.warn({ err, room }, 'fastify-chat: could not give a room a new epoch after a failover')
      }
    }
    if (rotated > 0) this.#log.warn({ rooms: rotated }, `fastify-chat: rooms got a new epoch because ${why}: their newest messages may have been lost`)
  }

  stop (): void {
    if (this.#client instanceof Cluster) this.#client.off('refresh', this.#onRefresh)
  }
}

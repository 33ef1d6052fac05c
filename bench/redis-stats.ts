// What Redis did during a window, over every server of a deployment (one Redis, or each master of
// a cluster): CPU (INFO cpu), commands and their µs (INFO commandstats), and, on a cluster, the
// cluster-bus pub/sub messages (CLUSTER INFO: classic PUBLISH is broadcast to every node; sharded
// SPUBLISH only to the shard's own replicas).
import Redis from 'ioredis'

export interface RedisSnapshot {
  cpuUs: number
  /** Bytes of data (INFO memory used_memory), summed over the masters. */
  memory: number
  /** Per server: calls summed over every command. */
  callsByServer: number[]
  /** Per command: calls and µs, summed over the servers. */
  commands: Map<string, { calls: number, usec: number }>
  /** Cluster bus: classic publish messages sent, sharded publish messages sent. */
  busPublish: number
  busPublishShard: number
}

/** The servers of a deployment: a Redis URL, or a cluster's `host:port,...` (its masters). */
export function servers (spec: string): Array<{ host: string, port: number }> {
  if (spec.startsWith('redis://')) {
    const u = new URL(spec)
    return [{ host: u.hostname, port: Number(u.port || 6379) }]
  }
  return spec.split(',').map((hp) => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) }))
}

export async function snapshot (spec: string): Promise<RedisSnapshot> {
  const out: RedisSnapshot = { cpuUs: 0, memory: 0, callsByServer: [], commands: new Map(), busPublish: 0, busPublishShard: 0 }
  for (const { host, port } of servers(spec)) {
    const r = new Redis(port, host, { lazyConnect: true })
    try {
      await r.connect()
      const role = await r.info('replication')
      if (role.includes('role:slave')) continue
      const cpu = await r.info('cpu')
      const get = (text: string, k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(text)?.[1] ?? 0)
      out.cpuUs += (get(cpu, 'used_cpu_sys') + get(cpu, 'used_cpu_user')) * 1e6
      out.memory += get(await r.info('memory'), 'used_memory')
      let calls = 0
      for (const line of (await r.info('commandstats')).split('\n')) {
        const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim())
        if (m === null) continue
        const c = out.commands.get(m[1]) ?? { calls: 0, usec: 0 }
        c.calls += Number(m[2])
        c.usec += Number(m[3])
        out.commands.set(m[1], c)
        calls += Number(m[2])
      }
      out.callsByServer.push(calls)
      const cluster = await r.cluster('INFO').catch(() => '') as string
      out.busPublish += get(cluster, 'cluster_stats_messages_publish_sent')
      out.busPublishShard += get(cluster, 'cluster_stats_messages_publishshard_sent')
    } finally {
      r.disconnect()
    }
  }
  return out
}

/** What happened between two snapshots. */
export function delta (a: RedisSnapshot, b: RedisSnapshot): { cpuUs: number, memory: number, calls: number, usec: number, byServer: number[], busPublish: number, busPublishShard: number, top: string } {
  let calls = 0
  let usec = 0
  const top: Array<[string, number, number]> = []
  for (const [name, c] of b.commands) {
    const before = a.commands.get(name) ?? { calls: 0, usec: 0 }
    const dc = c.calls - before.calls
    const du = c.usec - before.usec
    // The measuring commands themselves (INFO, CLUSTER) are not the chat's.
    if (dc <= 0 || name === 'info' || name === 'cluster|info' || name === 'cluster') continue
    calls += dc
    usec += du
    top.push([name, dc, du])
  }
  top.sort((x, y) => y[2] - x[2])
  return {
    cpuUs: b.cpuUs - a.cpuUs,
    memory: b.memory - a.memory,
    calls,
    usec,
    byServer: b.callsByServer.map((n, i) => n - (a.callsByServer[i] ?? 0)),
    busPublish: b.busPublish - a.busPublish,
    busPublishShard: b.busPublishShard - a.busPublishShard,
    top: top.slice(0, 4).map(([n, c, u]) => `${n} ${c}x ${u}µs`).join(', ')
  }
}

// A Redis Cluster of our own on loopback ports, for the tests and the benchmark.
//
//   node scripts/redis-cluster.mjs start [--port 7101] [--masters 3] [--replicas 0] [--dir DIR]
//   node scripts/redis-cluster.mjs stop  [--port 7101]
//   node scripts/redis-cluster.mjs ensure              # start unless one already answers on --port
//
// Each node runs from a folder of its own (nothing kept on disk), daemonized, with a short
// cluster-node-timeout so that a failover takes about two seconds. `start` waits until every node
// reports cluster_state:ok and prints the nodes as REDIS_CLUSTER_NODES wants them
// (host:port,host:port,...). The tests use 127.0.0.1:7101-7103 unless REDIS_CLUSTER_NODES is set.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string', default: '7101' },
    masters: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '0' },
    dir: { type: 'string' },
    'node-timeout': { type: 'string', default: '2000' }
  }
})
const base = Number(args.port)
const masters = Number(args.masters)
const replicas = Number(args.replicas)
const count = masters * (1 + replicas)
const dir = args.dir ?? join(tmpdir(), `fastify-chat-redis-cluster-${base}`)

function cli (port, ...command) {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...command], { encoding: 'utf8', timeout: 5000 })
  return r.status === 0 ? r.stdout.trim() : undefined
}

function answers (port) {
  return cli(port, 'ping') === 'PONG'
}

function ok (port) {
  return /cluster_state:ok/.test(cli(port, 'cluster', 'info') ?? '')
}

async function waitFor (check, ms, what) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function start () {
  const ports = Array.from({ length: count }, (_, i) => base + i)
  if (ports.every(answers) && ports.every(ok)) {
    console.log(ports.map((p) => `127.0.0.1:${p}`).join(','))
    return
  }
  stop()
  rmSync(dir, { recursive: true, force: true })
  for (const port of ports) {
    const nodeDir = join(dir, String(port))
    mkdirSync(nodeDir, { recursive: true })
    execFileSync('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--dir', nodeDir,
      '--pidfile', join(nodeDir, 'redis.pid'), '--logfile', join(nodeDir, 'redis.log'),
      '--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf'),
      '--cluster-node-timeout', args['node-timeout'], '--cluster-replica-validity-factor', '0', '--save', '', '--appendonly', 'no'
    ])
  }
  await waitFor(() => ports.every(answers), 10_000, 'the cluster nodes did not answer')
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'ignore' })
  await waitFor(() => ports.every(ok), 30_000, 'the cluster did not reach cluster_state:ok')
  // Every replica attached to its master before anyone relies on a failover.
  if (replicas > 0) {
    await waitFor(() => ports.filter((p) => /role:master/.test(cli(p, 'info', 'replication') ?? ''))
      .every((p) => Number(/connected_slaves:(\d+)/.exec(cli(p, 'info', 'replication') ?? '')?.[1] ?? 0) >= replicas), 30_000, 'the replicas did not attach')
  }
  console.log(ports.map((p) => `127.0.0.1:${p}`).join(','))
}

function stop () {
  if (!existsSync(dir)) return
  for (let i = 0; i < 64; i++) {
    const pidFile = join(dir, String(base + i), 'redis.pid')
    if (!existsSync(pidFile)) continue
    try { process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL') } catch {}
  }
  rmSync(dir, { recursive: true, force: true })
}

const command = positionals[0]
if (command === 'start' || command === 'ensure') {
  await start()
} else if (command === 'stop') {
  stop()
} else {
  console.error('usage: node scripts/redis-cluster.mjs start|stop|ensure [--port 7101] [--masters 3] [--replicas 0]')
  process.exit(2)
}

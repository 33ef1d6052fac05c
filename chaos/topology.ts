/**
 * What a chaos run starts, and stops whatever happens: a Redis Cluster of 3 masters with a replica
 * each (cluster-node-timeout 2 s), a PostgreSQL of its own (initdb in a temporary folder, as the
 * `postgres` user when run as root), and the example as a fleet of processes, each reaching Redis
 * and PostgreSQL through proxies of its own (proxy.ts). Everything on loopback, on ports from
 * `base`; never the machine's shared Redis or PostgreSQL. Signals go only to the PIDs started here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FaultProxy } from './proxy.js'

const ROOT = join(__dirname, '..')

export interface RedisNode {
  port: number
  proc: ChildProcess | undefined
  paused: boolean
}

export interface ChatServer {
  index: number
  port: number
  proc: ChildProcess | undefined
  paused: boolean
  /** Its proxies: one per Redis node (by the node's port), one to PostgreSQL. */
  redis: Map<number, FaultProxy>
  pg: FaultProxy
  /** What it printed last (for a report when it fails to start). */
  output: string[]
}

export interface TopologyOptions {
  base: number
  servers: number
  log: (line: string) => void
  /** Where each server's output goes (server-<index>.log), kept after the run. */
  logDir: string
}

async function until (check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function cli (port: number, ...args: string[]): string | undefined {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 })
  return r.status === 0 ? r.stdout.trim() : undefined
}

/** PostgreSQL's programs, newest version installed. */
function pgBin (): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b))
  return join('/usr/lib/postgresql', versions[versions.length - 1], 'bin')
}

export class Topology {
  readonly dir: string
  readonly redis: RedisNode[] = []
  readonly servers: ChatServer[] = []
  readonly pgPort: number
  readonly #o: TopologyOptions
  #pg: ChildProcess | undefined
  #pgUp = false

  constructor (options: TopologyOptions) {
    this.#o = options
    this.dir = mkdtempSync(join(tmpdir(), 'fastify-chat-chaos-'))
    this.pgPort = options.base + 50
  }

  /** Redis's node ports, masters first as created. */
  get redisPorts (): number[] {
    return this.redis.map((n) => n.port)
  }

  async start (): Promise<void> {
    await this.#startRedis()
    await this.#startPostgres()
    for (let i = 0; i < this.#o.servers; i++) this.servers.push(await this.#makeServer(i))
    await Promise.all(this.servers.map(async (s) => await this.startServer(s)))
  }

  // --- Redis -------------------------------------------------------------------------------

  #redisArgs (port: number): string[] {
    const dir = join(this.dir, `redis-${port}`)
    mkdirSync(dir, { recursive: true })
    return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'),
      '--cluster-node-timeout', '2000', '--cluster-replica-validity-factor', '0', '--save', '', '--appendonly', 'no', '--logfile', join(dir, 'redis.log')]
  }

  startRedisNode (node: RedisNode): void {
    node.proc = spawn('redis-server', this.#redisArgs(node.port), { stdio: 'ignore' })
    node.paused = false
    const proc = node.proc
    proc.on('exit', () => { if (node.proc === proc) node.proc = undefined })
  }

  async #startRedis (): Promise<void> {
    for (let i = 0; i < 6; i++) {
      const node: RedisNode = { port: this.#o.base + i, proc: undefined, paused: false }
      this.redis.push(node)
      this.startRedisNode(node)
    }
    await until(() => this.redis.every((n) => cli(n.port, 'ping') === 'PONG'), 10_000, 'the Redis nodes answering')
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...this.redis.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`redis-cli --cluster create: ${r.stderr}`)
    await until(() => this.redis.every((n) => /cluster_state:ok/.test(cli(n.port, 'cluster', 'info') ?? '')), 30_000, 'the cluster ok')
    await until(() => this.masters().every((p) => Number(/connected_slaves:(\d+)/.exec(cli(p, 'info', 'replication') ?? '')?.[1] ?? 0) >= 1), 30_000, 'every master with its replica')
    this.#o.log(`redis cluster: ${this.redisPorts.join(', ')} (masters ${this.masters().join(', ')})`)
  }

  /** The cluster as a live node sees it: each node's port, flags, master's id and slots. */
  #nodes (): Array<{ id: string, port: number, flags: string[], master: string, slots: string[] }> {
    for (const n of this.redis) {
      if (n.proc === undefined || n.paused) continue
      const text = cli(n.port, 'cluster', 'nodes')
      if (text === undefined) continue
      return text.split('\n').filter((l) => l !== '').map((l) => {
        const f = l.split(' ')
        return { id: f[0], port: Number(/:(\d+)@/.exec(f[1])?.[1]), flags: f[2].split(','), master: f[3], slots: f.slice(8) }
      })
    }
    return []
  }

  /** The ports of the nodes that are masters now (as a live node says), not failed. */
  masters (): number[] {
    return this.#nodes().filter((n) => n.flags.includes('master') && !n.flags.some((f) => f.startsWith('fail'))).map((n) => n.port)
  }

  /** The master now serving a key's slot, and a replica of it. */
  ownerOf (key: string): { master?: number, replica?: number, slot: number } {
    const nodes = this.#nodes()
    const live = this.redis.find((n) => n.proc !== undefined && !n.paused)
    const slot = live === undefined ? -1 : Number(cli(live.port, 'cluster', 'keyslot', key))
    const master = nodes.find((n) => n.flags.includes('master') && !n.flags.some((f) => f.startsWith('fail')) && n.slots.some((range) => {
      const [a, b = a] = range.split('-').map(Number)
      return slot >= a && slot <= b
    }))
    const replica = master === undefined ? undefined : nodes.find((n) => n.master === master.id && !n.flags.some((f) => f.startsWith('fail')))
    return { master: master?.port, replica: replica?.port, slot }
  }

  redisCli (port: number, ...args: string[]): string | undefined {
    return cli(port, ...args)
  }

  // --- PostgreSQL ---------------------------------------------------------------------------

  /** A PostgreSQL program, as the postgres user when this runs as root (PostgreSQL refuses root). */
  #pgSpawnArgs (program: string, args: string[]): [string, string[]] {
    const path = join(pgBin(), program)
    return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args]
  }

  get pgDir (): string {
    return join(this.dir, 'pg')
  }

  async #startPostgres (): Promise<void> {
    mkdirSync(this.pgDir, { recursive: true })
    if (process.getuid?.() === 0) {
      spawnSync('chown', ['-R', 'postgres', this.dir])
      chmodSync(this.dir, 0o755)
    }
    const [cmd, args] = this.#pgSpawnArgs('initdb', ['-D', this.pgDir, '-A', 'trust', '-U', 'postgres', '--no-sync'])
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`initdb: ${r.stderr}`)
    writeFileSync(join(this.pgDir, 'postgresql.auto.conf'), `port = ${this.pgPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${this.pgDir}'\nfsync = off\nmax_connections = 200\n`)
    if (process.getuid?.() === 0) spawnSync('chown', ['postgres', join(this.pgDir, 'postgresql.auto.conf')])
    await this.startPostgres()
    const created = spawnSync(join(pgBin(), 'psql'), ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'postgres', '-qc', 'CREATE DATABASE chaos'], { encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`CREATE DATABASE: ${created.stderr}`)
    this.#o.log(`postgresql: 127.0.0.1:${this.pgPort} (${this.pgDir})`)
  }

  get pgUp (): boolean {
    return this.#pgUp
  }

  async startPostgres (): Promise<void> {
    const [cmd, args] = this.#pgSpawnArgs('postgres', ['-D', this.pgDir])
    this.#pg = spawn(cmd, args, { stdio: 'ignore' })
    await until(() => spawnSync(join(pgBin(), 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(this.pgPort)]).status === 0, 30_000, 'PostgreSQL ready')
    this.#pgUp = true
  }

  /** Stops PostgreSQL at once, as a crash would (no checkpoint; recovery at the next start). */
  async crashPostgres (): Promise<void> {
    const [cmd, args] = this.#pgSpawnArgs('pg_ctl', ['-D', this.pgDir, 'stop', '-m', 'immediate'])
    spawnSync(cmd, args)
    this.#pgUp = false
    const pg = this.#pg
    if (pg !== undefined && pg.exitCode === null) await new Promise((resolve) => pg.once('exit', resolve))
  }

  /** Every backend of the chat's database ended (as a failover's or an admin's would be). */
  terminateBackends (): void {
    spawnSync(join(pgBin(), 'psql'), ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'postgres', '-d', 'chaos', '-qc',
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \'chaos\' AND pid <> pg_backend_pid()'])
  }

  get databaseUrl (): string {
    return `postgres://postgres@127.0.0.1:${this.pgPort}/chaos`
  }

  // --- the fleet ----------------------------------------------------------------------------

  async #makeServer (index: number): Promise<ChatServer> {
    const redis = new Map<number, FaultProxy>()
    for (const n of this.redis) {
      const proxy = new FaultProxy({ host: '127.0.0.1', port: n.port })
      await proxy.listen()
      redis.set(n.port, proxy)
    }
    const pg = new FaultProxy({ host: '127.0.0.1', port: this.pgPort })
    await pg.listen()
    return { index, port: this.#o.base + 10 + index, proc: undefined, paused: false, redis, pg, output: [] }
  }

  /**
   * Starts a chat process, as a supervisor would (systemd's Restart=on-failure): one that exits
   * while starting (its Redis or PostgreSQL away at that moment: registration fails with a coded
   * error) is started again a second later, for up to a minute. Resolves with the attempts made.
   */
  async startServer (s: ChatServer): Promise<number> {
    const deadline = Date.now() + 60_000
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#startOnce(s, deadline)
        return attempt
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }

  async #startOnce (s: ChatServer, deadline: number): Promise<void> {
    s.output.length = 0
    const natMap = Object.fromEntries([...s.redis].map(([port, proxy]) => [`127.0.0.1:${port}`, `127.0.0.1:${proxy.port}`]))
    const env = {
      ...process.env,
      PORT: String(s.port),
      HOST: '127.0.0.1',
      JWT_SECRET: 'chaos-secret-that-is-long-enough-for-hs256',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: [...s.redis.values()].map((p) => `127.0.0.1:${p.port}`).join(','),
      REDIS_NAT_MAP: JSON.stringify(natMap),
      DATABASE_URL: `postgres://postgres@127.0.0.1:${s.pg.port}/chaos`,
      CHAT_SCHEMA: 'chat'
    }
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'server.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    s.proc = proc
    s.paused = false
    const file = join(this.#o.logDir, `server-${s.index}.log`)
    const keep = (d: Buffer): void => {
      appendFileSync(file, d)
      s.output.push(...String(d).split('\n').filter((l) => l !== ''))
      if (s.output.length > 200) s.output.splice(0, s.output.length - 200)
    }
    proc.stdout!.on('data', keep)
    proc.stderr!.on('data', keep)
    proc.on('exit', () => { if (s.proc === proc) s.proc = undefined })
    await until(async () => {
      if (s.proc !== proc) throw new Error(`server ${s.index} exited while starting: ${s.output.filter((l) => !l.startsWith('{')).slice(0, 1).join('')}`)
      try {
        return (await fetch(`http://127.0.0.1:${s.port}/health`)).status === 200
      } catch {
        return false
      }
    }, Math.max(1000, deadline - Date.now()), `server ${s.index} answering /health`)
  }

  async killServer (s: ChatServer): Promise<void> {
    const proc = s.proc
    if (proc === undefined) return
    if (s.paused) proc.kill('SIGCONT')
    proc.kill('SIGKILL')
    if (proc.exitCode === null && proc.signalCode === null) await new Promise((resolve) => proc.once('exit', resolve))
  }

  /** Stops everything this run started (also the paused: they are woken first), and removes its folder. */
  async stop (): Promise<void> {
    for (const s of this.servers) await this.killServer(s).catch(() => {})
    for (const s of this.servers) {
      for (const p of s.redis.values()) await p.close().catch(() => {})
      await s.pg.close().catch(() => {})
    }
    for (const n of this.redis) {
      if (n.proc === undefined) continue
      n.proc.kill('SIGCONT')
      n.proc.kill('SIGKILL')
    }
    if (this.#pgUp || this.#pg?.exitCode === null) await this.crashPostgres().catch(() => {})
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true })
  }
}

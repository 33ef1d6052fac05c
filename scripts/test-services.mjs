// Makes sure the services the tests need answer, starting the ones that do not (when their
// programs are installed): Redis on REDIS_URL (default 127.0.0.1:6379), a 3-master Redis
// Cluster on 127.0.0.1:7101-7103 (unless REDIS_CLUSTER_NODES names another one), and PostgreSQL
// on DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fastify_chat_test) with the test
// database created when missing. `npm test` runs
// it first; `.ci/run` too, and stops the cluster it started when it is done. What it starts keeps
// running afterwards (`node scripts/redis-cluster.mjs stop` stops the cluster).
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

function redisAnswers (url) {
  return spawnSync('redis-cli', ['-u', url, 'ping'], { encoding: 'utf8', timeout: 3000 }).stdout?.trim() === 'PONG'
}

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
if (!has('redis-server') || !has('redis-cli')) {
  console.error('test-services: redis-server is not installed (Debian: apt-get install redis-server); the Redis tests will say so')
} else {
  if (!redisAnswers(url)) {
    const port = new URL(url).port || '6379'
    console.error(`test-services: starting redis-server on port ${port}`)
    execFileSync('redis-server', ['--daemonize', 'yes', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    for (let i = 0; i < 50 && !redisAnswers(url); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (process.env.REDIS_CLUSTER_NODES === undefined) {
    execFileSync(process.execPath, [join(root, 'scripts', 'redis-cluster.mjs'), 'ensure', '--port', '7101', '--masters', '3'], { stdio: ['ignore', 'ignore', 'inherit'] })
  }
}

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fastify_chat_test'
const db = new URL(databaseUrl)
const pgArgs = ['-h', db.hostname, '-p', db.port || '5432', '-U', decodeURIComponent(db.username || 'postgres')]
const pgEnv = { ...process.env, PGPASSWORD: decodeURIComponent(db.password), PGCONNECT_TIMEOUT: '3' }
const pgAnswers = () => spawnSync('pg_isready', ['-q', ...pgArgs], { env: pgEnv }).status === 0
if (!has('psql') || !has('pg_isready')) {
  console.error('test-services: PostgreSQL is not installed (Debian: apt-get install postgresql); the store tests will say so')
} else {
  if (!pgAnswers() && has('pg_ctlcluster') && ['127.0.0.1', 'localhost'].includes(db.hostname)) {
    const { readdirSync } = await import('node:fs')
    const version = readdirSync('/etc/postgresql').sort((a, b) => Number(a) - Number(b)).pop()
    console.error(`test-services: starting PostgreSQL ${version}`)
    spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' })
    for (let i = 0; i < 100 && !pgAnswers(); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const name = decodeURIComponent(db.pathname.slice(1))
  const exists = spawnSync('psql', [...pgArgs, '-d', 'postgres', '-tAc', `SELECT 1 FROM pg_database WHERE datname = '${name.replaceAll("'", "''")}'`], { env: pgEnv, encoding: 'utf8' })
  if (exists.status === 0 && exists.stdout.trim() !== '1') {
    console.error(`test-services: creating the test database ${name}`)
    spawnSync('psql', [...pgArgs, '-d', 'postgres', '-qc', `CREATE DATABASE "${name.replaceAll('"', '""')}"`], { env: pgEnv, stdio: ['ignore', 'ignore', 'inherit'] })
  }
}

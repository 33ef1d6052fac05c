// Makes sure the services the tests need answer, starting the ones that do not (when their
// programs are installed): Redis on REDIS_URL (default 127.0.0.1:6379) and a 3-master Redis
// Cluster on 127.0.0.1:7101-7103 (unless REDIS_CLUSTER_NODES names another one). `npm test` runs
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

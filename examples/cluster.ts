// `npm run start:cluster`: two copies of the example on ports 3000 and 3001 (PORT and PORT+1) on
// the same Redis: REDIS_CLUSTER_NODES (a Redis Cluster) when set, else REDIS_URL (default
// redis://127.0.0.1:6379). Clients of either chat as if on one server.
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const base = Number(process.env.PORT ?? 3000)
const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const children = [base, base + 1].map((port) => spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'server.ts')], {
  env: { ...process.env, PORT: String(port), REDIS_URL: redis, CHAT_PREFIX: process.env.CHAT_PREFIX },
  stdio: 'inherit'
}))
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { for (const c of children) c.kill(signal) })
}
let running = children.length
for (const c of children) c.once('exit', () => { if (--running === 0) process.exit(0) })

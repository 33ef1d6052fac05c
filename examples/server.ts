// A small host API with the chat plugin: `npm start`. It reads PORT (default 3000), HOST
// (default 127.0.0.1), JWT_SECRET (default: a development secret, with a warning), LOG_LEVEL,
// LOG_FORMAT (`pretty` or `json`; default pretty on a terminal, JSON otherwise), REDIS_URL, and
// REDIS_CLUSTER_NODES (host:port,host:port,... of a Redis Cluster; it wins over REDIS_URL): with
// either, the chat uses the Redis adapter (keys under CHAT_PREFIX, default `fastify-chat:`), so
// several copies on different ports form one chat (`npm run start:cluster`). REDIS_NAT_MAP (JSON,
// {"host:port":"host:port",...}) gives the address to use for each address a Redis Cluster's nodes
// announce (ioredis's natMap: a cluster behind NAT, Docker, or the chaos run's proxies). With DATABASE_URL
// (postgres://...), messages are kept in PostgreSQL (schema CHAT_SCHEMA, default `chat`), with or
// without Redis: acks mean committed, and history outlives every process.
import { join } from 'node:path'
import fastifyJwt from '@fastify/jwt'
import fastifyStatic from '@fastify/static'
import { build } from 'esbuild'
import { register } from 'prom-client'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyServerOptions } from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { chatLogSerializers, postgresStore, redisAdapter } from '../lib/index.js'

const DEV_SECRET = 'fastify-chat-development-secret-do-not-use-in-production'

function logger (): FastifyServerOptions['logger'] {
  const pretty = process.env.LOG_FORMAT === 'pretty' || (process.env.LOG_FORMAT !== 'json' && process.stdout.isTTY)
  return {
    level: process.env.LOG_LEVEL ?? 'info',
    // The chat's serializers keep tokens (?token=) out of request lines, and stack traces out of
    // the lines of client errors (a 401 is one line).
    serializers: chatLogSerializers,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } } : {})
  }
}

function hostPort (hp: string): { host: string, port: number } {
  return { host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) }
}

/** REDIS_NAT_MAP as ioredis's natMap: each announced "host:port" to the address to use instead. */
function natMapOf (json: string): Record<string, { host: string, port: number }> | undefined {
  if (json === '') return undefined
  const map: Record<string, { host: string, port: number }> = {}
  for (const [from, to] of Object.entries(JSON.parse(json) as Record<string, string>)) map[from] = hostPort(to)
  return map
}

async function main (): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  const app = Fastify({
    logger: logger(),
    // A client that trickles its request (or its upgrade) headers is cut within 6 s, instead of
    // holding a socket for Node's defaults (up to 90 s with the 30 s check interval).
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    http: { headersTimeout: 5_000, connectionsCheckingInterval: 1_000 },
    // Room names (at most 64) and client ids (at most 128) reach the chat's own validation.
    routerOptions: { maxParamLength: 128 }
  })

  const realSecret = process.env.JWT_SECRET !== undefined && process.env.JWT_SECRET !== ''
  const secret = realSecret ? process.env.JWT_SECRET! : DEV_SECRET
  if (!realSecret) {
    app.log.warn('JWT_SECRET is not set: using a development secret. Never do this in production.')
  }

  // OpenAPI docs of the host's routes, the chat's REST endpoints included, at /docs; "Authorize"
  // takes a token, which every chat route then sends.
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'fastify-chat example', version: '1.0.0' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    }
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' })

  // The host owns @fastify/jwt here (to sign its users' tokens); the plugin reuses it.
  await app.register(fastifyJwt, { secret })

  let adapter
  const clusterNodes = process.env.REDIS_CLUSTER_NODES ?? ''
  const redisUrl = process.env.REDIS_URL ?? ''
  if (clusterNodes !== '' || redisUrl !== '') {
    // The host's own client (a Redis Cluster client, or a single Redis): the plugin duplicates it
    // to subscribe and never quits it.
    const natMap = natMapOf(process.env.REDIS_NAT_MAP ?? '')
    const redis = clusterNodes !== ''
      ? new Redis.Cluster(clusterNodes.split(',').map(hostPort), { redisOptions: { maxRetriesPerRequest: 1 }, enableAutoPipelining: true, ...(natMap === undefined ? {} : { natMap }) })
      : new Redis(redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true })
    redis.on('error', () => {}) // the plugin logs outages once
    app.addHook('onClose', async () => { await redis.quit() })
    adapter = redisAdapter({ client: redis, prefix: process.env.CHAT_PREFIX })
    app.log.info(clusterNodes !== '' ? { redisCluster: clusterNodes } : { redis: redisUrl }, 'chat on Redis: copies of this example on the same Redis form one chat')
  }
  // The store owns its pool here (it ends it on close); a host with @fastify/postgres would pass
  // { pool: app.pg.pool } instead, and keep it.
  const databaseUrl = process.env.DATABASE_URL ?? ''
  const store = databaseUrl === '' ? undefined : postgresStore({ connectionString: databaseUrl }, { schema: process.env.CHAT_SCHEMA ?? 'chat' })
  if (store !== undefined) app.log.info({ schema: process.env.CHAT_SCHEMA ?? 'chat' }, 'chat messages kept in PostgreSQL')
  // metrics: true puts the chat's metrics in prom-client's default registry, served at /metrics.
  await app.register(chatPlugin, { adapter, store, metrics: true, openapi: { securityScheme: 'bearerAuth' } })
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(register.contentType).send(await register.metrics()))

  // A route of the host's own, not guarded by the chat's auth.
  app.get('/health', { schema: { summary: 'Liveness, with the chat\'s counters', tags: ['host'] } }, async () => ({ status: 'ok', chat: await app.chat.stats() }))

  // The demo page at /, its script bundled for the browser from the typed client.
  const bundle = await build({
    entryPoints: [join(__dirname, 'demo', 'app.ts')],
    bundle: true,
    format: 'esm',
    write: false,
    target: 'es2022',
    external: ['ws'] // Node only: the browser has its own WebSocket
  })
  const appJs = bundle.outputFiles[0].text
  app.get('/demo/app.js', { schema: { hide: true } }, async (_req, reply) => reply.type('text/javascript').send(appJs))
  // A route per file, not a `/*` wildcard: a wildcard would also catch the chat's paths that the
  // router refuses (a parameter over maxParamLength is its 414) and answer them 404.
  await app.register(fastifyStatic, { root: join(__dirname, 'public'), wildcard: false })

  // Development tokens for the demo page and /docs: only while the example runs on its
  // development secret. A real host signs its users' tokens after its own login.
  if (!realSecret) {
    app.post<{ Body: { name: string, role?: 'admin' } }>('/dev/token', {
      schema: {
        summary: 'A development token (only without JWT_SECRET): sub and name are the name given',
        tags: ['development'],
        body: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 32, pattern: "^[\\p{L}\\p{N}][\\p{L}\\p{N} _.'-]*$", description: '1 to 32 letters, digits, spaces and _ . \' -, starting with a letter or digit' },
            role: { type: 'string', enum: ['admin'], description: 'admin: may use the changing REST endpoints' }
          },
          additionalProperties: false
        },
        response: { 200: { type: 'object', properties: { token: { type: 'string' } } } }
      }
    }, async (request) => {
      const { name, role } = request.body
      return { token: app.jwt.sign({ sub: name, name, ...(role === undefined ? {} : { role }) }, { expiresIn: '1h' }) }
    })
  }

  // SIGTERM or SIGINT (Ctrl-C): close the sockets with 1001 and stop. `npm start` execs this
  // process, so a signal to npm's process reaches it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      app.close().then(() => process.exit(0), (err: unknown) => {
        app.log.error({ err }, 'failed to close')
        process.exit(1)
      })
    })
  }

  // A deploy or a crash brings every client back at once: a listen backlog of 511 (Node's
  // default) overflows and the kernel drops connection requests, which clients only notice as TCP
  // retransmits (1 s, 3 s, 7 s). The kernel caps it at net.core.somaxconn (4096 on recent Linux).
  await app.listen({ port, host, backlog: Number(process.env.BACKLOG ?? 4096) })
  const sign = (sub: string, name: string, role?: string) => app.jwt.sign({ sub, name, ...(role === undefined ? {} : { role }) }, { expiresIn: '24h' })
  const base = `ws://${host}:${port}/chat`
  const alice = sign('alice', 'Alice')
  const bob = sign('bob', 'Bob')
  console.log([
    '',
    'fastify-chat example is ready. Sample tokens (valid 24 hours):',
    `  alice: ${alice}`,
    `  bob:   ${bob}`,
    `  admin: ${sign('root', 'Admin', 'admin')}`,
    '',
    'Connect two terminal clients and chat:',
    `  npm run client -- ${base} ${alice}`,
    `  npm run client -- ${base} ${bob}`,
    'or any WebSocket client:',
    `  ${base}?token=<token>`,
    `API docs: http://${host}:${port}/docs (Authorize with a token), metrics: http://${host}:${port}/metrics`,
    !realSecret ? `Demo page: http://${host}:${port}/ (open it in two tabs)` : 'Demo page: off (its development tokens exist only without JWT_SECRET)',
    ''
  ].join('\n'))
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})

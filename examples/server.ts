// A small host API with the chat plugin: `npm start`. It reads PORT (default 3000), HOST
// (default 127.0.0.1), JWT_SECRET (default: a development secret, with a warning), LOG_LEVEL,
// and REDIS_URL: when set, the chat uses the Redis adapter (keys under CHAT_PREFIX, default
// `fastify-chat:`), so several copies on different ports form one chat (`npm run start:cluster`).
import { join } from 'node:path'
import fastifyJwt from '@fastify/jwt'
import fastifyStatic from '@fastify/static'
import { build } from 'esbuild'
import { register } from 'prom-client'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify from 'fastify'
import Redis from 'ioredis'
import chatPlugin, { chatLogSerializers, redisAdapter } from '../lib/index.js'

const DEV_SECRET = 'fastify-chat-development-secret-do-not-use-in-production'

async function main (): Promise<void> {
  const port = Number(process.env.PORT ?? 3000)
  const host = process.env.HOST ?? '127.0.0.1'
  // The chat's serializers keep tokens (?token=) out of the request log lines.
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info', serializers: chatLogSerializers } })

  const realSecret = process.env.JWT_SECRET !== undefined && process.env.JWT_SECRET !== ''
  const secret = realSecret ? process.env.JWT_SECRET! : DEV_SECRET
  if (!realSecret) {
    app.log.warn('JWT_SECRET is not set: using a development secret. Never do this in production.')
  }

  // OpenAPI docs of the host's routes, the chat's REST endpoints included, at /docs.
  await app.register(fastifySwagger, { openapi: { info: { title: 'fastify-chat example', version: '1.0.0' } } })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' })

  // The host owns @fastify/jwt here (to sign the sample tokens); the plugin reuses it.
  await app.register(fastifyJwt, { secret })

  let adapter
  if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') {
    // The host's own client: the plugin duplicates it to subscribe and never quits it.
    const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 })
    redis.on('error', () => {}) // the plugin logs outages once
    app.addHook('onClose', async () => { await redis.quit() })
    adapter = redisAdapter({ client: redis, prefix: process.env.CHAT_PREFIX })
    app.log.info({ redis: process.env.REDIS_URL }, 'chat on Redis: copies of this example with the same REDIS_URL form one chat')
  }
  // metrics: true puts the chat's metrics in prom-client's default registry, served at /metrics.
  await app.register(chatPlugin, { adapter, metrics: true })
  app.get('/metrics', async (_req, reply) => reply.type(register.contentType).send(await register.metrics()))

  // A route of the host's own, not guarded by the chat's auth.
  app.get('/health', async () => ({ status: 'ok', chat: await app.chat.stats() }))

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
  app.get('/demo/app.js', async (_req, reply) => reply.type('text/javascript').send(appJs))
  await app.register(fastifyStatic, { root: join(__dirname, 'public') })

  // A development token for the demo page: only while the example runs on its development secret.
  if (!realSecret) {
    app.post<{ Body: { name: string } }>('/dev/token', {
      schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' } }, additionalProperties: false } }
    }, async (request) => ({ token: app.jwt.sign({ sub: request.body.name, name: request.body.name }, { expiresIn: '1h' }) }))
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      app.close().then(() => process.exit(0), (err: unknown) => {
        app.log.error({ err }, 'failed to close')
        process.exit(1)
      })
    })
  }

  await app.listen({ port, host })
  const alice = app.jwt.sign({ sub: 'alice', name: 'Alice' }, { expiresIn: '24h' })
  const bob = app.jwt.sign({ sub: 'bob', name: 'Bob' }, { expiresIn: '24h' })
  const base = `ws://${host}:${port}/chat`
  console.log([
    '',
    'fastify-chat example is ready. Sample tokens (valid 24 hours):',
    `  alice: ${alice}`,
    `  bob:   ${bob}`,
    '',
    'Connect two terminal clients and chat:',
    `  npm run client -- ${base} ${alice}`,
    `  npm run client -- ${base} ${bob}`,
    'or any WebSocket client:',
    `  ${base}?token=<token>`,
    `API docs: http://${host}:${port}/docs, metrics: http://${host}:${port}/metrics`,
    !realSecret ? `Demo page: http://${host}:${port}/ (open it in two tabs)` : 'Demo page: off (its development tokens exist only without JWT_SECRET)',
    ''
  ].join('\n'))
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})

// A ban, a mute or a lifting made while one of the user's sockets is between its admission (where
// the auth hook read the user's restrictions) and its open reaches that socket too: the host's
// preHandler, which runs exactly there, makes the change, from the other process. The socket opens
// with it in force, before it says or joins anything. On every backend.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { BACKENDS, processes } from './backends.js'
import { Client, connect, token } from './helpers.js'
import { until } from './redis-helpers.js'

for (const backend of BACKENDS) {
  t.test(backend.name, async (t) => {
    if (!await backend.ready(t)) return
    // In the window: what the x-change header asks, done by the other process.
    let apps: FastifyInstance[] = []
    const changes: Record<string, (other: FastifyInstance) => Promise<unknown>> = {
      'room-ban': async (other) => await other.chat.ban('bob', { room: 'lobby' }),
      'chat-ban': async (other) => await other.chat.ban('bob'),
      mute: async (other) => await other.chat.mute('bob'),
      'lift-room-ban': async (other) => await other.chat.unban('bob', { room: 'lobby' })
    }
    apps = await processes(t, backend, 2, { rateLimit: false }, (app, i) => {
      app.addHook('preHandler', async (request) => {
        const change = request.headers['x-change']
        if (typeof change === 'string') await changes[change](apps[1 - i])
      })
    })
    const [a, b] = apps
    const watcher = await connect(b, token({ sub: 'watcher' }))
    const open = async (change: string) => await connect(a, token({ sub: 'bob' }), { defaultRoom: false, headers: { 'x-change': change } })

    t.test('a room ban in the window: the default room is refused', async (t) => {
      const bob = await open('room-ban')
      await bob.barrier()
      t.notOk(bob.queue.some((f) => f.type === 'joined' && f.room === 'lobby'), 'never in the room')
      t.notOk((await a.chat.members('lobby')).some((m) => m.userId === 'bob'))
      t.match(await bob.request({ action: 'join', room: 'lobby' }), { type: 'error', code: 'BANNED' })
      t.match(await bob.request({ action: 'join', room: 'elsewhere' }), { type: 'joined' }, 'other rooms are fine')
      bob.close()
    })

    t.test('the lifting of a ban in the window: the socket is free of it', async (t) => {
      // Banned before the upgrade: the admission reads the ban, the window lifts it.
      const bob = await open('lift-room-ban')
      t.match(await bob.next('joined'), { room: 'lobby' }, 'the default room is joined')
      bob.close()
    })

    t.test('a mute in the window: writing is refused from the first frame', async (t) => {
      const bob = await open('mute')
      await bob.next('joined')
      t.match(await bob.request({ action: 'message', room: 'lobby', content: 'hi' }), { type: 'error', code: 'MUTED' })
      await a.chat.unmute('bob')
      t.match(await bob.request({ action: 'message', room: 'lobby', content: 'hi' }), { type: 'ack' })
      bob.close()
    })

    t.test('a chat-wide ban in the window: closed with 4003 as it opens, before any frame', async (t) => {
      let bob: Client | undefined
      await a.injectWS('/chat', { headers: { authorization: `Bearer ${token({ sub: 'bob' })}`, 'x-change': 'chat-ban' } }, { onInit: (ws) => { bob = new Client(ws) } })
      t.same(await bob!.closedWithin(), { code: 4003, reason: 'banned' })
      t.same(bob!.queue, [], 'not even a welcome')
      await until(async () => !(await b.chat.presence('bob')).online, 5000, 'bob offline')
      t.match(await b.chat.presence('bob'), { online: false, connections: 0 }, 'its place is given back')
      await b.chat.unban('bob')
    })
    t.teardown(() => watcher.close())
  })
}

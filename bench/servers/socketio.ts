// Baseline: Socket.IO 4 with rooms, websocket transport only, the same events as our protocol.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { createAdapter } from '@socket.io/redis-adapter'
import Redis from 'ioredis'
import { Server } from 'socket.io'
import { tokenVerifier } from './baseline-chat.js'
import { PORT, ready, SECRET } from './control.js'

const verify = tokenVerifier(SECRET)
const server = createServer()
// BENCH_STORM_RATE: the storm scenario, with Socket.IO's connection-state recovery (2 minutes).
const storm = Number(process.env.BENCH_STORM_RATE ?? 0)
const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 65536,
  ...(storm > 0 ? { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 } } : {})
})
if (storm > 0) {
  // The same flow as the plugin's storm server: round-robin over the rooms, a seq per room.
  const rooms = Number(process.env.BENCH_STORM_ROOMS ?? 100)
  const seqs = new Array(rooms).fill(0)
  let n = 0
  setInterval(() => {
    for (let i = 0; i < storm / 100; i++) {
      const r = n++ % rooms
      io.to(`storm-${r}`).emit('message', { type: 'message', room: `storm-${r}`, seq: ++seqs[r], epoch: 'e', at: Date.now() })
    }
  }, 10).unref()
}
if (process.env.BENCH_REDIS !== undefined) {
  // The cluster scenario: Socket.IO's own Redis adapter.
  const pub = new Redis(process.env.BENCH_REDIS)
  io.adapter(createAdapter(pub, pub.duplicate(), { key: process.env.BENCH_PREFIX ?? 'socket.io' }))
}

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: string }).token ?? (socket.handshake.query.token as string | undefined) ?? null
  const userId = verify(token)
  if (userId === undefined) return next(new Error('unauthorized'))
  socket.data.userId = userId
  next()
})

io.on('connection', (socket) => {
  const userId = socket.data.userId as string
  socket.emit('welcome', { type: 'welcome', message: 'Connected to chat server', clientId: socket.id, userId })
  const joined = (room: string, ref?: unknown): void => {
    void socket.join(room)
    socket.emit('joined', { type: 'joined', room, members: io.sockets.adapter.rooms.get(room)?.size ?? 0, ref })
  }
  joined('lobby')
  socket.on('join', (req: { room: string, ref?: unknown }) => joined(req.room, req.ref))
  socket.on('leave', (req: { room: string, ref?: unknown }) => {
    void socket.leave(req.room)
    socket.emit('left', { type: 'left', room: req.room, ref: req.ref })
  })
  socket.on('message', (req: { room: string, content: string, ref?: unknown }) => {
    if (!socket.rooms.has(req.room)) return
    const id = randomUUID()
    io.to(req.room).emit('message', { type: 'message', room: req.room, id, from: socket.id, userId, content: req.content, timestamp: Date.now() })
    if (req.ref !== undefined) socket.emit('ack', { type: 'ack', ref: req.ref, id })
  })
})
server.listen(PORT, '127.0.0.1', () => ready((server.address() as { port: number }).port))

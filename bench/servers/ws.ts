// Baseline: a plain `ws` server (mode from BENCH_MODE: plain, frame or coalesce).
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { BaselineChat, tokenVerifier, type Mode } from './baseline-chat.js'
import { PORT, ready, SECRET } from './control.js'

const chat = new BaselineChat((process.env.BENCH_MODE ?? 'plain') as Mode)
const verify = tokenVerifier(SECRET)
const server = createServer((_req, res) => { res.writeHead(404).end() })
const wss = new WebSocketServer({ noServer: true, maxPayload: 65536, perMessageDeflate: false, clientTracking: false })
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x')
  const userId = url.pathname === '/chat' ? verify(url.searchParams.get('token')) : undefined
  if (userId === undefined) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    return
  }
  wss.handleUpgrade(req, socket, head, (ws) => chat.connection(ws, userId))
})
server.listen(PORT, '127.0.0.1', () => ready((server.address() as { port: number }).port))

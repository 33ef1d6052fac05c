// A terminal chat client for the example: `npm run client -- <ws url> <token>`.
// Type a line to send it to the current room; /join ROOM, /leave ROOM, /room ROOM, /quit.
import { createInterface } from 'node:readline'
import WebSocket from 'ws'

const [url = 'ws://127.0.0.1:3000/chat', token] = process.argv.slice(2)
if (token === undefined) {
  console.error('usage: npm run client -- <ws url> <token>')
  process.exit(2)
}

let room = 'lobby'
let ref = 0
const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' })

function show (line: string): void {
  process.stdout.write(`\r${line}\n`)
  rl.prompt(true)
}

ws.on('unexpected-response', (_req, res) => {
  console.error(`refused: HTTP ${res.statusCode}`)
  process.exit(1)
})
ws.on('message', (data) => {
  const f = JSON.parse(data.toString())
  switch (f.type) {
    case 'welcome': show(`* connected as ${f.userId} (${f.clientId})`); break
    case 'joined': room = f.room; show(`* joined ${f.room} (${f.members} members); now talking in ${room}`); break
    case 'left': show(`* left ${f.room}${f.reason === 'removed' ? ' (removed by an admin)' : ''}`); break
    case 'userJoined': show(`* ${f.userId} joined ${f.room}`); break
    case 'userLeft': show(`* ${f.userId} left ${f.room} (${f.reason})`); break
    case 'message': show(`[${f.room}] ${f.userId}: ${f.content}`); break
    case 'ack': break
    case 'error': show(`! ${f.code}: ${f.message}`); break
    default: show(JSON.stringify(f))
  }
})
ws.on('close', (code, reason) => {
  console.log(`\nclosed ${code} ${reason.toString()}`)
  process.exit(0)
})
ws.on('open', () => rl.prompt())

rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/, 2)
  if (cmd === '/quit') return ws.close(1000)
  if (cmd === '/join' && arg !== undefined) ws.send(JSON.stringify({ action: 'join', room: arg, ref: ++ref }))
  else if (cmd === '/leave' && arg !== undefined) ws.send(JSON.stringify({ action: 'leave', room: arg, ref: ++ref }))
  else if (cmd === '/room' && arg !== undefined) { room = arg; show(`* talking in ${room}`) }
  else if (line.trim() !== '') ws.send(JSON.stringify({ action: 'message', room, content: line, ref: ++ref }))
  rl.prompt()
})
rl.on('close', () => ws.close(1000))

// A terminal chat client for the example: `npm run client -- <ws url> <token>`. Built on
// fastify-chat/client, so it queues what you type before the socket is open, reconnects, resumes
// its rooms and resends unacknowledged lines (each with a fresh random ref). Type /help.
import { createInterface } from 'node:readline'
import { ChatRequestError, createChatClient } from '../lib/client/index.js'
import { ROOM_REGEXP } from '../lib/constants.js'

const HELP = `Commands:
  /join ROOM     join a room and talk in it
  /leave [ROOM]  leave a room (default: the current one)
  /room ROOM     talk in a room you are in
  /rooms         the rooms you are in
  /help          this text
  /quit          leave (Ctrl-D works too)
Anything else is said in the current room; start a line with // to say something that starts with /.`

const [url = 'ws://127.0.0.1:3000/chat', token] = process.argv.slice(2)
if (token === undefined) {
  console.error('usage: npm run client -- <ws url> <token>')
  process.exit(2)
}

const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' })
const client = createChatClient({ url, token, reconnect: { minDelay: 500, maxDelay: 5000 } })
let current = 'lobby'
let quitting = false

function show (line: string): void {
  process.stdout.write(`\r\x1b[K${line}\n`)
  if (!quitting) rl.prompt(true)
}
const members = (n: number): string => `${n} member${n === 1 ? '' : 's'}`
const failed = (err: unknown): void => {
  show(err instanceof ChatRequestError ? `! ${err.code}: ${err.message}` : `! ${(err as Error).message}`)
}

client.on('status', (s) => { if (s === 'reconnecting') show('* connection lost: reconnecting...') })
client.on('reconnecting', ({ delay }) => show(`* trying again in ${(delay / 1000).toFixed(1)} s`))
const REFUSED: Record<number, string> = { 401: 'the token is invalid or expired', 403: 'not allowed', 429: 'too many connections' }
client.on('close', ({ code, reason, reconnecting, status }) => {
  if (reconnecting || quitting) return
  if (status !== undefined) show(`! could not connect: HTTP ${status}${REFUSED[status] === undefined ? '' : ` (${REFUSED[status]})`}`)
  else show(`* closed by the server: ${code}${reason === '' ? '' : ` ${reason}`}`)
  process.exit(code === 1000 ? 0 : 1)
})
client.on('welcome', (f) => show(`* connected as ${f.userId}`))
client.on('joined', (f) => {
  if (f.recovered === true) return
  show(`* in ${f.room} (${members(f.members)})${f.recovered === false ? ': some messages were missed while away' : ''}`)
})
client.on('left', (f) => show(`* left ${f.room}${f.reason === 'removed' ? ' (removed by an admin)' : ''}`))
client.on('userJoined', (f) => show(`* ${f.userId} joined ${f.room}`))
client.on('userLeft', (f) => show(`* ${f.userId} left ${f.room}${f.reason === 'left' ? '' : ` (${f.reason})`}`))
client.on('message', (f) => show(`[${f.room}] ${f.name ?? f.userId}: ${f.content}`))
client.on('error', (f) => { if (f.ref === undefined) show(`! ${f.code}: ${f.message}`) })
client.on('tokenExpiring', () => show('* your token expires soon: start the client again with a fresh one'))

/** One typed line: a command, or something to say. Commands are parsed strictly. */
function handle (line: string): void {
  const text = line.trim()
  if (text === '') return
  if (!text.startsWith('/') || text.startsWith('//')) {
    const content = text.startsWith('//') ? text.slice(1) : line
    client.send(current, content).catch(failed)
    return
  }
  const [command, ...args] = text.split(/\s+/)
  const room = (usage: string, fallback?: string): string | undefined => {
    const name = args.length === 0 ? fallback : args.join(' ')
    if (name === undefined || args.length > 1 || !ROOM_REGEXP.test(name)) {
      show(name === undefined ? `usage: ${usage}` : `! "${name}" is not a room name: 1 to 64 of A-Z a-z 0-9 _ . : - (no spaces)`)
      return undefined
    }
    return name
  }
  switch (command) {
    case '/join': {
      const name = room('/join ROOM')
      if (name !== undefined) client.join(name).then(() => { current = name; show(`* talking in ${name}`) }, failed)
      break
    }
    case '/leave': {
      const name = room('/leave [ROOM]', current)
      if (name === undefined) break
      client.leave(name).then(() => {
        if (name !== current) return
        // Back to the lobby if still in it, else to any room left, else nowhere.
        const rooms = client.rooms
        current = rooms.includes('lobby') ? 'lobby' : rooms[0] ?? 'lobby'
        show(rooms.length === 0 ? '* in no room now: /join one' : `* talking in ${current}`)
      }, failed)
      break
    }
    case '/room': {
      const name = room('/room ROOM')
      if (name === undefined) break
      if (!client.rooms.includes(name)) show(`! not in ${name}: /join ${name} first`)
      else { current = name; show(`* talking in ${name}`) }
      break
    }
    case '/rooms': show(`* in ${client.rooms.join(', ') || 'no room'}; talking in ${current}`); break
    case '/help': show(HELP); break
    case '/quit': quit(); break
    default: show(`! unknown command ${command}: /help lists them`)
  }
}

function quit (): void {
  if (quitting) return
  quitting = true
  client.close()
  rl.close()
  process.stdout.write('\n')
  process.exit(0)
}

rl.on('line', (line) => { handle(line); rl.prompt() })
// Ctrl-D, or the end of piped input: leave cleanly, whether connected or not.
rl.on('close', quit)
show(`* connecting to ${url} (type /help)`)
client.connect().catch((err: Error) => {
  // The client keeps trying by itself (a server that is down); only a refusal is final.
  if (client.status === 'closed') {
    console.error(`could not connect: ${err.message}`)
    process.exit(1)
  }
})

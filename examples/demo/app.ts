// The demo page's script (bundled for the browser by the example at start-up): pick a name, get a
// development token, join rooms, see members come and go, chat, and watch it reconnect.
import { createChatClient, type ChatClient } from '../../lib/client/index.js'

const $ = <T extends HTMLElement>(id: string): T => document.querySelector(`[data-testid="${id}"]`) as T
const nameInput = $<HTMLInputElement>('name')
const roomInput = $<HTMLInputElement>('room')
const messageInput = $<HTMLInputElement>('message')
const messages = $<HTMLUListElement>('messages')
const members = $<HTMLUListElement>('members')
const status = $<HTMLElement>('status')
const problem = $<HTMLElement>('problem')
const currentRoom = $<HTMLElement>('current-room')

let client: ChatClient | undefined
let room = 'lobby'
let token = ''
const present = new Map<string, string>() // clientId -> userId, for the current room

async function fetchToken (name: string): Promise<string> {
  const res = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  if (!res.ok) throw new Error(`no development token: HTTP ${res.status}`)
  token = (await res.json() as { token: string }).token
  return token
}

function showProblem (text: string): void {
  problem.textContent = text
  problem.hidden = text === ''
}

function renderMembers (): void {
  members.replaceChildren(...[...new Set(present.values())].sort().map((u) => {
    const li = document.createElement('li')
    li.textContent = u
    return li
  }))
}

async function loadMembers (): Promise<void> {
  const res = await fetch(`/rooms/${encodeURIComponent(room)}/members`, { headers: { authorization: `Bearer ${token}` } })
  present.clear()
  if (res.ok) for (const m of (await res.json() as { members: Array<{ clientId: string, userId: string }> }).members) present.set(m.clientId, m.userId)
  renderMembers()
}

$('connect').addEventListener('click', () => {
  const name = nameInput.value.trim()
  if (name === '') return showProblem('Pick a name first')
  showProblem('')
  client?.close()
  const c = client = createChatClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat`,
    token: () => fetchToken(name),
    reconnect: { minDelay: 250, maxDelay: 3000 }
  })
  c.on('status', (s) => { status.textContent = s === 'open' ? 'connected' : s })
  c.on('open', () => { void loadMembers() })
  c.on('message', (m) => {
    const li = document.createElement('li')
    li.textContent = `${m.userId}: ${m.content}`
    li.dataset.room = m.room
    messages.append(li)
  })
  c.on('userJoined', (f) => { if (f.room === room) { present.set(f.clientId, f.userId); renderMembers() } })
  c.on('userLeft', (f) => { if (f.room === room) { present.delete(f.clientId); renderMembers() } })
  c.on('error', (f) => showProblem(`${f.code}: ${f.message}`))
  c.connect().catch((err: Error) => showProblem(err.message))
})

$('join').addEventListener('click', () => {
  const next = roomInput.value.trim()
  if (client === undefined || next === '') return
  client.join(next).then(() => {
    room = next
    currentRoom.textContent = room
    showProblem('')
    return loadMembers()
  }, (err: Error) => showProblem(err.message))
})

$('send').addEventListener('click', () => {
  const text = messageInput.value
  if (client === undefined || text.trim() === '') return
  messageInput.value = ''
  client.send(room, text).catch((err: Error) => showProblem(err.message))
})
messageInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') $('send').click() })

// The demo page's script (bundled for the browser by the example at start-up): pick a name, get a
// development token, join rooms (each a tab with its own messages, history and members), chat,
// and watch it reconnect. Click someone in the members list to write to them directly; a dot says
// who is online anywhere in the chat.
import { ChatRequestError, createChatClient, type ChatClient } from '../../lib/client/index.js'
import type { MessageFrame } from '../../lib/protocol/schemas.js'

const $ = <T extends HTMLElement>(id: string): T => document.querySelector(`[data-testid="${id}"]`) as T
const nameInput = $<HTMLInputElement>('name')
const roomInput = $<HTMLInputElement>('room')
const messageInput = $<HTMLInputElement>('message')
const messages = $<HTMLUListElement>('messages')
const members = $<HTMLUListElement>('members')
const tabs = $<HTMLUListElement>('tabs')
const status = $<HTMLElement>('status')
const problem = $<HTMLElement>('problem')
const currentRoom = $<HTMLElement>('current-room')
const leaveButton = $<HTMLButtonElement>('leave')
const typingLine = $<HTMLElement>('typing')

/** What the page knows of one room it is in. */
/** A message this page sent that has no ack yet (shown greyed, in place, until the server has it). */
interface Pending { pending: string, text: string, failed?: boolean }

interface RoomView {
  items: Array<MessageFrame | { note: string } | Pending>
  /** The seqs shown, of this epoch (a room whose history was lost starts a new one at 1). */
  seqs: Set<number>
  epoch: string
  /** Where this epoch's messages begin in `items`. */
  floor: number
  /** Who is typing there now (not this user). */
  typing: string[]
  /** userId -> display name, from the members endpoint and userJoined/userLeft. */
  present: Map<string, string>
  historyLoaded: boolean
}

let client: ChatClient | undefined
let token = ''
let me = ''
let current: string | undefined
const rooms = new Map<string, RoomView>()
/** A direct conversation's room -> the other person. */
const partners = new Map<string, string>()
/** Who is online anywhere (from watch). */
const online = new Map<string, boolean>()
const watched = new Set<string>()
let problemTimer: ReturnType<typeof setTimeout> | undefined
let pendingCount = 0

const FRIENDLY: Record<string, string> = {
  NOT_A_MEMBER: 'You are not in that room any more: join it again.',
  RATE_LIMITED: 'Slow down a little: that message was not sent.',
  BAD_REQUEST: 'The server did not understand that.',
  FORBIDDEN: 'You may not do that here.',
  UNAVAILABLE: 'The chat is briefly unavailable: try again in a moment.',
  ROOM_FULL: 'That room is full.',
  TOO_MANY_ROOMS: 'You are in too many rooms: leave one first.',
  BANNED: 'You are banned from that room.',
  MUTED: 'You are muted here: you can read, not write.'
}

/** The room of the direct conversation with `other` (as the server names it: see docs/protocol.md). */
async function directRoom (a: string, b: string): Promise<string> {
  const [x, y] = a < b ? [a, b] : [b, a]
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${x}\0${y}`)))
  return 'dm:' + btoa(String.fromCharCode(...digest)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function label (room: string): string {
  if (!room.startsWith('dm:')) return room
  const other = partners.get(room)
  return other === undefined ? 'direct' : other === 'server' ? '@server' : `@${other}`
}

/** Watches who is shown (at most 100), to put a dot by each. */
function watchShown (users: Iterable<string>): void {
  const fresh = [...users].filter((u) => u !== me && !watched.has(u)).slice(0, Math.max(0, 100 - watched.size))
  if (client === undefined || fresh.length === 0) return
  for (const u of fresh) watched.add(u)
  client.watch(fresh).catch(() => { for (const u of fresh) watched.delete(u) })
}

/** Shows a problem for a while; any success clears it sooner. */
function showProblem (text: string): void {
  clearTimeout(problemTimer)
  problem.textContent = text
  problem.hidden = text === ''
  if (text !== '') problemTimer = setTimeout(() => showProblem(''), 8000)
}
function failed (err: unknown): void {
  if (err instanceof ChatRequestError) showProblem(FRIENDLY[err.code] ?? err.message)
  else showProblem((err as Error).message)
}

function view (room: string): RoomView {
  let v = rooms.get(room)
  if (v === undefined) rooms.set(room, v = { items: [], seqs: new Set(), epoch: '', floor: 0, present: new Map(), historyLoaded: false, typing: [] })
  return v
}

function time (ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

function messageItem (m: MessageFrame): HTMLLIElement {
  const li = document.createElement('li')
  li.dataset.room = m.room
  li.dataset.author = m.userId
  if (m.userId === me) li.classList.add('mine')
  if (m.userId === 'server') li.classList.add('server')
  const meta = document.createElement('div')
  meta.className = 'meta'
  meta.textContent = `${m.userId === me ? 'you' : m.name ?? m.userId} · ${time(m.timestamp)}`
  const text = document.createElement('div')
  text.className = 'text'
  text.textContent = m.content
  li.append(meta, text)
  return li
}

function render (): void {
  tabs.replaceChildren(...[...rooms.keys()].map((room) => {
    const li = document.createElement('li')
    if (room === current) li.classList.add('current')
    const button = document.createElement('button')
    button.className = 'quiet'
    button.dataset.testid = room.startsWith('dm:') && partners.has(room) ? `tab-@${partners.get(room)!}` : `tab-${room}`
    button.textContent = label(room)
    button.addEventListener('click', () => { current = room; render() })
    li.append(button)
    // Unread: a badge on every room but the one in view (read there, or on another tab: both clear it).
    const unread = room === current ? 0 : client?.unread(room) ?? 0
    if (unread !== 0) {
      const badge = document.createElement('span')
      badge.className = 'badge'
      badge.dataset.testid = `badge-${button.dataset.testid.slice(4)}`
      badge.textContent = String(unread)
      li.append(badge)
    }
    return li
  }))
  markViewedRead()
  currentRoom.textContent = current === undefined ? '(none)' : label(current)
  const typers = current === undefined ? [] : rooms.get(current)?.typing ?? []
  typingLine.textContent = typers.length === 0
    ? ''
    : typers.length === 1 ? `${typers[0]} is typing...` : `${typers.slice(0, -1).join(', ')} and ${typers.at(-1)!} are typing...`
  leaveButton.disabled = current === undefined
  const v = current === undefined ? undefined : rooms.get(current)
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40
  messages.replaceChildren(...(v?.items ?? []).map((item) => {
    if ('pending' in item) {
      const li = document.createElement('li')
      li.className = item.failed === true ? 'mine pending failed' : 'mine pending'
      const meta = document.createElement('div')
      meta.className = 'meta'
      meta.textContent = item.failed === true ? 'not sent' : client?.status === 'open' ? 'sending...' : 'waiting for the connection...'
      const text = document.createElement('div')
      text.className = 'text'
      text.textContent = item.text
      li.append(meta, text)
      return li
    }
    if ('note' in item) {
      const li = document.createElement('li')
      li.className = 'note'
      li.textContent = item.note
      return li
    }
    return messageItem(item)
  }))
  if (atBottom) messages.scrollTop = messages.scrollHeight
  members.replaceChildren(...[...(v?.present ?? new Map<string, string>())].sort((a, b) => a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0).map(([u, name]) => {
    const li = document.createElement('li')
    const dot = document.createElement('span')
    // Yourself: online while this page is connected (not while it reconnects).
    const isOn = u === me ? client?.status === 'open' : online.get(u) !== false
    dot.className = isOn ? 'dot on' : 'dot'
    dot.title = isOn ? 'online' : 'offline'
    li.append(dot, u === me ? `${name} (you)` : name)
    li.dataset.user = u
    if (u !== me) {
      li.classList.add('person')
      li.title = `Write to ${name}`
      li.addEventListener('click', () => { void openDirect(u) })
    }
    return li
  }))
  watchShown(v?.present.keys() ?? [])
}

/** The room in view, on a visible page, is read: up to its newest message (every tab of this user then clears its badge). */
function markViewedRead (): void {
  if (client === undefined || current === undefined || document.visibilityState !== 'visible') return
  if (client.unread(current) === 0) return
  client.markRead(current).catch(() => {}) // best effort: it is marked again on the next view
}

document.addEventListener('visibilitychange', () => { markViewedRead() })

/** Opens (or shows) the direct conversation with `other`: it exists on the server from the first message. */
async function openDirect (other: string): Promise<void> {
  const room = await directRoom(me, other)
  partners.set(room, other)
  const v = view(room)
  v.present.set(other, other)
  v.present.set(me, me)
  current = room
  render()
}

/** Adds messages to a room in seq order, each once (history and live may overlap). */
function add (room: string, list: MessageFrame[]): void {
  const v = view(room)
  for (const m of list) {
    if (m.epoch !== v.epoch) {
      // A new epoch numbers from 1 again: what is shown stays, and this epoch's follow it.
      v.epoch = m.epoch
      v.seqs.clear()
      v.floor = v.items.length
    }
    if (v.seqs.has(m.seq)) continue
    v.seqs.add(m.seq)
    // Before the first later message (history arrives after the live ones it precedes).
    let at = v.items.length
    for (let i = v.floor; i < v.items.length; i++) {
      const item = v.items[i]
      if ('pending' in item || ('seq' in item && item.seq > m.seq)) { at = i; break }
    }
    v.items.splice(at, 0, m)
  }
  if (room === current) render()
}

async function api<T> (path: string): Promise<T | undefined> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } })
  return res.ok ? await res.json() as T : undefined
}

async function loadRoom (room: string, newest: number): Promise<void> {
  const v = view(room)
  const [history, list] = await Promise.all([
    v.historyLoaded ? undefined : api<{ messages: MessageFrame[] }>(`/rooms/${encodeURIComponent(room)}/messages?before=${newest + 1}&limit=50`),
    api<{ users: Array<{ userId: string, name?: string }> }>(`/rooms/${encodeURIComponent(room)}/members`)
  ])
  if (history !== undefined) { v.historyLoaded = true; add(room, history.messages) }
  v.present.clear()
  for (const u of list?.users ?? []) v.present.set(u.userId, u.name ?? u.userId)
  if (room === current) render()
}

async function fetchToken (name: string): Promise<string> {
  const res = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  if (res.status === 400) throw new Error('Names are 1 to 32 letters, digits, spaces and _ . \' -, starting with a letter or digit.')
  if (!res.ok) throw new Error(`Could not get a development token (HTTP ${res.status}).`)
  token = (await res.json() as { token: string }).token
  return token
}

$('name-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const name = nameInput.value.trim()
  if (name === '') return showProblem('Pick a name first.')
  client?.close()
  rooms.clear()
  partners.clear()
  online.clear()
  watched.clear()
  current = undefined
  render()
  me = name
  $('connect').textContent = 'Switch user'
  const c = client = createChatClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat`,
    token: () => fetchToken(name),
    reconnect: { minDelay: 250, maxDelay: 3000 }
  })
  c.on('close', (e) => { if (e.code === 4003) showProblem('You are banned from this chat.') })
  c.on('status', (s) => {
    status.textContent = s === 'open' ? 'connected' : s
    status.classList.toggle('open', s === 'open')
    render()
  })
  c.on('welcome', (w) => { me = w.userId; showProblem('') })
  c.on('joined', (j) => {
    current ??= j.room
    render()
    void loadRoom(j.room, j.seq)
  })
  // The room's resume could not recover (the server lost its history: a restart of the memory
  // adapter): what was sent there since it started over is reloaded; nothing sent since, nothing to say.
  c.on('missed', (m) => {
    const v = view(m.room)
    if (m.seq === 0) return
    v.items.push({ note: 'The server restarted while you were away: this room\'s history was reloaded.' })
    v.historyLoaded = false
    void loadRoom(m.room, m.seq)
  })
  c.on('left', (l) => {
    rooms.delete(l.room)
    if (l.reason === 'removed') showProblem(`You were removed from ${l.room}.`)
    if (l.reason === 'banned') showProblem(`You were banned from ${l.room}.`)
    if (current === l.room) current = rooms.has('lobby') ? 'lobby' : rooms.keys().next().value
    render()
  })
  c.on('message', (m) => {
    if (m.room.startsWith('dm:') && !partners.has(m.room)) {
      const other = m.userId === me ? m.to : m.userId
      if (other !== undefined) partners.set(m.room, other)
      add(m.room, [m])
      render() // the tab's name is known now
      return
    }
    add(m.room, [m])
  })
  c.on('presence', (p) => { online.set(p.userId, p.online); render() })
  c.on('unread', () => { render() })
  c.on('typing', (f) => {
    view(f.room).typing = f.users.filter((u) => u.userId !== me).map((u) => u.name ?? u.userId)
    if (f.room === current) render()
  })
  c.on('joined', (j) => { if (j.typing !== undefined) view(j.room).typing = j.typing.filter((u) => u.userId !== me).map((u) => u.name ?? u.userId) })
  // Presence is per user: one userJoined for a user's first tab, one userLeft for its last.
  c.on('userJoined', (f) => { view(f.room).present.set(f.userId, f.name ?? f.userId); if (f.room === current) render() })
  c.on('userLeft', (f) => { rooms.get(f.room)?.present.delete(f.userId); if (f.room === current) render() })
  c.on('error', (f) => { if (f.ref === undefined) showProblem(FRIENDLY[f.code] ?? f.message) })
  c.connect().catch(failed)
})

$('room-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const next = roomInput.value.trim()
  if (client === undefined) return showProblem('Connect first.')
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(next)) return showProblem('Room names are 1 to 64 letters, digits and _ . : - (no spaces).')
  client.join(next).then(() => {
    current = next
    showProblem('')
    render()
  }, failed)
})

leaveButton.addEventListener('click', () => {
  if (client === undefined || current === undefined) return
  client.leave(current).then(() => showProblem(''), failed)
})

// Every keystroke says so (the client sends one `typing` per 3 s at most); an empty input, stopped.
messageInput.addEventListener('input', () => {
  if (client === undefined || current === undefined || (current.startsWith('dm:') && !rooms.get(current)?.historyLoaded)) return
  client.typing(current, messageInput.value !== '')
})

$('message-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const text = messageInput.value
  if (client === undefined || current === undefined || text.trim() === '') return
  messageInput.value = ''
  const room = current
  const other = room.startsWith('dm:') ? partners.get(room) : undefined
  // Shown at once, greyed, until the server has it (it waits for the connection if there is none).
  const pending: Pending = { pending: String(++pendingCount), text }
  view(room).items.push(pending)
  render()
  const sent = other !== undefined && other !== 'server' ? client.dm(other, text) : client.send(room, text)
  sent.then(() => {
    const v = view(room)
    v.items = v.items.filter((i) => i !== pending)
    showProblem('')
    if (room === current) render()
  }, (err: unknown) => {
    pending.failed = true
    failed(err)
    if (room === current) render()
  })
})

render()

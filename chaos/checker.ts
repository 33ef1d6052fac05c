/**
 * The chaos run's checker: clients' logs and the store's final history in, a verdict out. Pure:
 * no I/O, no clock, so that planted anomalies test it (test/chaos-checker.test.ts).
 *
 * What it holds the run to (each an anomaly kind):
 * - `seq-gap`: a room's seqs are 1, 2, 3... with no hole (one epoch: the store's);
 * - `lost-ack`: an acknowledged message is in the history, at its acknowledged seq;
 * - `duplicate`: a message is in the history once, however often it was resent;
 * - `refused-kept`: a message refused (any code but those of an unknown outcome) is not in it;
 * - `phantom`: a message in the history, or delivered, was sent (by its client, as that user);
 * - `wrong-event`: what a client got at a seq is what the history has there;
 * - `delivery-duplicate`, `delivery-order`, `delivery-gap`: a member gets every event of its
 *   membership once, in seq order, across reconnects and resumes (a resume that says it missed
 *   something starts a new stretch);
 * - `send-order`: a client's acknowledged messages in a room are in the order it sent them;
 * - `page-slice`: a history page is a contiguous slice of the final history;
 * - `change-order`: an edit or deletion comes after its message; `final-state`: a message is what
 *   applying its changes in order makes it;
 * - `dm-outsider`: nobody but its two participants gets anything of a direct conversation;
 * - `not-caught-up`: once the faults stopped, every member has every event of its rooms.
 */
import { UNKNOWN_OUTCOME, type ClientLog, type Entry, type FinalEvent, type FinalRoom } from './log.js'

export interface Anomaly {
  kind: string
  message: string
  /** A few log lines and history events around it. */
  witness: string[]
}

export interface Verdict {
  valid: boolean
  anomalies: Anomaly[]
  counts: Record<string, number>
  stats: { messages: number, delivered: number, acked: number, refused: number, unknown: number, pages: number, reconnects: number }
}

type Received = Extract<Entry, { k: 'message' | 'edited' | 'deleted' }>

/** The `<client>:<n>` a content starts with (an edit keeps it: `<client>:<n>/e<k>`). */
export function tagOf (content: string): string {
  const slash = content.indexOf('/')
  return slash === -1 ? content : content.slice(0, slash)
}

export function check (logs: ClientLog[], rooms: FinalRoom[]): Verdict {
  const anomalies: Anomaly[] = []
  const add = (kind: string, message: string, witness: string[] = []): void => { anomalies.push({ kind, message, witness: witness.slice(0, 12) }) }
  const show = (c: string, e: Entry): string => `${c} ${JSON.stringify(e)}`
  const stats = { messages: 0, delivered: 0, acked: 0, refused: 0, unknown: 0, pages: 0, reconnects: 0 }

  // The history: each room's events by seq, each message by id, and where each tag landed.
  const byRoom = new Map<string, FinalRoom>()
  const messages = new Map<string, { room: string, seq: number, userId: string, content: string, deleted: boolean }>()
  for (const r of rooms) {
    byRoom.set(r.room, r)
    r.events.forEach((e, i) => {
      if (e.seq !== i + 1) add('seq-gap', `room ${r.room}: event ${i + 1} has seq ${e.seq}`, r.events.slice(Math.max(0, i - 2), i + 2).map((x) => JSON.stringify(x)))
      if (e.kind === 'message') {
        stats.messages++
        messages.set(e.id, { room: r.room, seq: e.seq, userId: e.userId, content: e.content, deleted: e.deleted })
      }
    })
  }

  // What each client asked and was answered.
  const sends = new Map<string, { client: string, userId: string, n: number, room?: string, to?: string, t: number }>()
  const outcome = new Map<string, Extract<Entry, { k: 'ok' | 'fail' }>>()
  const idTag = new Map<string, string>()
  for (const { client, userId, entries } of logs) {
    for (const e of entries) {
      if (e.k === 'send') sends.set(`${client}:${e.n}`, { client, userId, n: e.n, room: e.room, to: e.to, t: e.t })
      if ((e.k === 'ok' || e.k === 'fail') && sends.has(`${client}:${e.n}`)) outcome.set(`${client}:${e.n}`, e)
      if (e.k === 'open' && entries.some((x) => x.k === 'open' && x.t < e.t)) stats.reconnects++
    }
  }
  for (const [tag, o] of outcome) if (o.k === 'ok' && o.id !== undefined) idTag.set(o.id, tag)

  // Where each sent message landed: its tag, from its content (or its ack, once deleted).
  const landed = new Map<string, string[]>()
  for (const [id, m] of messages) {
    const tag = m.deleted ? idTag.get(id) : tagOf(m.content)
    if (tag === undefined) {
      add('phantom', `message ${id} (room ${m.room}, seq ${m.seq}) was deleted but no acknowledged send is it`)
      continue
    }
    landed.set(tag, [...landed.get(tag) ?? [], id])
    const send = sends.get(tag)
    if (send === undefined) add('phantom', `message ${id} (room ${m.room}, seq ${m.seq}) says ${tag}, which nobody sent`)
    else if (send.userId !== m.userId) add('phantom', `message ${id} says ${tag}, sent by ${send.userId}, but is kept as ${m.userId}'s`)
  }
  for (const [tag, ids] of landed) if (ids.length > 1) add('duplicate', `${tag} is in the history ${ids.length} times: ${ids.join(', ')}`)
  for (const [tag, o] of outcome) {
    if (o.k === 'ok') {
      stats.acked++
      const m = o.id === undefined ? undefined : messages.get(o.id)
      if (m === undefined || m.seq !== o.seq) add('lost-ack', `${tag} was acknowledged as ${o.id} at seq ${o.seq}, but the history has ${m === undefined ? 'no such message' : `it at seq ${m.seq}`}`)
    } else if (UNKNOWN_OUTCOME.has(o.code)) {
      stats.unknown++
    } else {
      stats.refused++
      if (landed.has(tag)) add('refused-kept', `${tag} was refused (${o.code}) but is in the history`)
    }
  }

  // A room's changes come after their message, and the message is what they made it.
  for (const r of rooms) {
    const latest = new Map<string, { content: string, deleted: boolean }>()
    for (const e of r.events) {
      if (e.kind === 'message') continue
      const m = messages.get(e.id)
      if (m === undefined || m.room !== r.room || m.seq > e.seq) {
        add('change-order', `room ${r.room}: ${e.kind} of ${e.id} at seq ${e.seq} comes before its message (${m === undefined ? 'none' : `seq ${m.seq}`})`)
        continue
      }
      latest.set(e.id, e.kind === 'deleted' ? { content: '', deleted: true } : { content: e.content, deleted: latest.get(e.id)?.deleted ?? false })
    }
    for (const [id, want] of latest) {
      const m = messages.get(id)!
      if (m.content !== want.content || m.deleted !== want.deleted) add('final-state', `room ${r.room}: ${id} is ${JSON.stringify({ content: m.content, deleted: m.deleted })}, its changes make it ${JSON.stringify(want)}`)
    }
  }

  for (const log of logs) checkClient(log, byRoom, messages, sends, add, show, stats)
  const counts: Record<string, number> = {}
  for (const a of anomalies) counts[a.kind] = (counts[a.kind] ?? 0) + 1
  return { valid: anomalies.length === 0, anomalies, counts, stats }
}

/** One client: what it got in each room, its sends' order, its pages, and where it ended. */
function checkClient (
  { client, userId, entries }: ClientLog,
  byRoom: Map<string, FinalRoom>,
  messages: Map<string, { room: string, seq: number }>,
  sends: Map<string, { n: number, t: number }>,
  add: (kind: string, message: string, witness?: string[]) => void,
  show: (c: string, e: Entry) => string,
  stats: Verdict['stats']
): void {
  // Per room: the next seq this client must get (undefined: not in a stretch), and what it got.
  // A clean close as the last line is the run's end: what the client was in then must be complete.
  const ended = entries.length > 0 && entries[entries.length - 1].k === 'close' && (entries[entries.length - 1] as { code: number }).code === 1000
  const expect = new Map<string, number | undefined>()
  const got = new Map<string, Set<number>>()
  const last = new Map<string, number>()
  // Where the client stands in each room it is in: its last event, or the seq it joined at (what
  // a resume goes on from).
  const pos = new Map<string, number>()
  const posEpoch = new Map<string, string>()
  const recent: Entry[] = []
  const witness = (): string[] => recent.slice(-8).map((x) => show(client, x))
  for (const e of ended ? entries.slice(0, -1) : entries) {
    recent.push(e)
    if (recent.length > 16) recent.shift()
    // Until a resume says nothing was missed, every room's stretch is over.
    if (e.k === 'close') for (const room of expect.keys()) expect.set(room, undefined)
    if (e.k === 'joined') {
      // A resume that missed nothing goes on from where the client stood, and so does a plain join
      // of a room it stands further in, in the same epoch (the server's join of a direct
      // conversation may say less than the client had: the typed client keeps its place, as seqs
      // are not reused within an epoch); anything else (a first join, a resume told it missed
      // some, another epoch) starts from the join.
      const at = pos.get(e.room)
      const same = at !== undefined && posEpoch.get(e.room) === e.epoch
      const from = at !== undefined && (e.recovered === true || (e.recovered === undefined && same && e.seq < at)) ? at : e.seq
      expect.set(e.room, from + 1)
      pos.set(e.room, from)
      posEpoch.set(e.room, e.epoch)
    }
    if (e.k === 'left') {
      expect.delete(e.room)
      pos.delete(e.room)
      posEpoch.delete(e.room)
    }
    if (e.k === 'page') {
      stats.pages++
      checkPage(client, e, byRoom, add, witness)
    }
    if (e.k !== 'message' && e.k !== 'edited' && e.k !== 'deleted') continue
    stats.delivered++
    checkReceived(client, userId, e, byRoom, add, witness)
    const seen = got.get(e.room) ?? new Set<number>()
    got.set(e.room, seen)
    if (seen.has(e.seq)) add('delivery-duplicate', `${client} got seq ${e.seq} of ${e.room} twice`, witness())
    else if ((last.get(e.room) ?? 0) > e.seq) add('delivery-order', `${client} got seq ${e.seq} of ${e.room} after seq ${last.get(e.room)}`, witness())
    const want = expect.get(e.room)
    if (want !== undefined && e.seq > want) add('delivery-gap', `${client} got seq ${e.seq} of ${e.room} while seq ${want} was due`, witness())
    seen.add(e.seq)
    last.set(e.room, Math.max(last.get(e.room) ?? 0, e.seq))
    pos.set(e.room, Math.max(pos.get(e.room) ?? 0, e.seq))
    if (e.k === 'message') posEpoch.set(e.room, e.epoch)
    if (want !== undefined && e.seq >= want) expect.set(e.room, e.seq + 1)
  }

  // Its acknowledged messages, per room, in the order it sent them.
  const mine = new Map<string, Array<{ n: number, seq: number }>>()
  for (const e of entries) {
    if (e.k !== 'ok' || e.id === undefined || !sends.has(`${client}:${e.n}`)) continue
    const m = messages.get(e.id)
    if (m === undefined) continue
    mine.set(m.room, [...mine.get(m.room) ?? [], { n: e.n, seq: m.seq }])
  }
  for (const [room, list] of mine) {
    list.sort((a, b) => a.n - b.n)
    for (let i = 1; i < list.length; i++) {
      if (list[i].seq < list[i - 1].seq) add('send-order', `${client} sent ${client}:${list[i - 1].n} before ${client}:${list[i].n} in ${room}, but they have seqs ${list[i - 1].seq} and ${list[i].seq}`)
    }
  }

  // Where it ended: every room it was still in, up to the room's last event.
  if (!ended) return
  for (const [room, want] of expect) {
    if (want === undefined) continue
    const final = byRoom.get(room)?.events.length ?? 0
    if (want - 1 < final) add('not-caught-up', `${client} ended in ${room} at seq ${want - 1}, the room is at ${final}`, witness())
  }
}

/** A delivered event is the history's event at its seq, and only a participant gets a direct conversation's. */
function checkReceived (client: string, userId: string, e: Received, byRoom: Map<string, FinalRoom>, add: (kind: string, message: string, witness?: string[]) => void, witness: () => string[]): void {
  const r = byRoom.get(e.room)
  if (r?.participants !== undefined && !r.participants.includes(userId)) add('dm-outsider', `${client} (${userId}) got seq ${e.seq} of ${e.room}, a conversation of ${r.participants.join(' and ')}`, witness())
  const h: FinalEvent | undefined = r?.events[e.seq - 1]
  const kind = e.k === 'message' ? 'message' : e.k
  if (h === undefined || h.kind !== kind || h.id !== e.id) {
    add(h === undefined && e.k === 'message' ? 'phantom' : 'wrong-event', `${client} got ${e.k} ${e.id} at seq ${e.seq} of ${e.room}; the history has ${h === undefined ? 'nothing' : `${h.kind} ${h.id}`} there`, witness())
    return
  }
  if (e.k === 'message' && h.kind === 'message' && e.content !== '' && tagOf(e.content) !== (h.deleted ? tagOf(e.content) : tagOf(h.content))) {
    add('wrong-event', `${client} got ${e.id} saying ${e.content}; the history says ${h.content}`, witness())
  }
}

/** A page is the history's messages between its first and last seq, all of them, in order. */
function checkPage (client: string, e: Extract<Entry, { k: 'page' }>, byRoom: Map<string, FinalRoom>, add: (kind: string, message: string, witness?: string[]) => void, witness: () => string[]): void {
  if (e.messages.length === 0) return
  const lo = e.messages[0].seq
  const hi = e.messages[e.messages.length - 1].seq
  const want = (byRoom.get(e.room)?.events ?? []).filter((x) => x.kind === 'message' && x.seq >= lo && x.seq <= hi).map((x) => `${x.seq}:${x.id}`)
  const page = e.messages.map((m) => `${m.seq}:${m.id}`)
  if (page.join() !== want.join()) add('page-slice', `${client}'s page of ${e.room} (${page.join(' ')}) is not the history's ${want.join(' ')}`, witness())
}

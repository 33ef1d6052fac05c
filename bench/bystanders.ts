// The storm's bystanders, in a load generator process of their own: one client per room, never
// cut, timing each message's delivery (the servers stamp the time they send it). Apart from the
// storm's clients, so that what they measure is the server's delay, not the storm generator's own
// event loop busy with thousands of reconnects. The orchestrator forwards the storm's phases.
import { createSigner } from 'fast-jwt'
import { RawClient, type Dialect } from './raw-client.js'
import { SECRET } from './servers/control.js'

export interface BystandersJob { kind: 'bystanders', dialect: Dialect, port: number, rooms: number }
export interface BystandersResult { name: 'bystanders', p99Before: number, p99During: number, before: number, during: number }

const sign = createSigner({ key: SECRET, expiresIn: 3_600_000 })

function p99 (xs: number[]): number {
  if (xs.length === 0) return NaN
  const sorted = xs.slice().sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]
}

/** Connects, says `ready`, records by phase (`settled`, `cut`, `recovered`) until `report`. */
export async function bystanders (job: BystandersJob): Promise<BystandersResult> {
  const sio = job.dialect === 'socketio'
  let phase: 'joining' | 'settled' | 'cut' | 'recovered' = 'joining'
  const before: number[] = []
  const during: number[] = []
  const timed = (at: number): void => {
    if (!Number.isFinite(at)) return
    if (phase === 'settled') before.push(Date.now() - at)
    else if (phase === 'cut') during.push(Date.now() - at)
  }
  const clients: RawClient[] = []
  for (let r = 0; r < job.rooms; r++) {
    const room = `storm-${r}`
    const token = sign({ sub: `bystander-${r}` })
    await new Promise<void>((resolve) => {
      const c = new RawClient(job.port, sio ? '/socket.io/?EIO=4&transport=websocket' : `/chat?token=${token}`, job.dialect, {
        onMessage (_c, payload) {
          if (sio) {
            const [, f] = JSON.parse(payload!.toString().slice(2)) as [string, { room: string, at?: number }]
            if (f.room === room) timed(Number(f.at))
            return
          }
          const f = JSON.parse(payload!.toString()) as { room: string, content?: string }
          if (f.room === room) timed(Number(f.content?.slice(f.content.indexOf('@') + 1)))
        },
        onFrame (c, f) {
          if (f.type === 'eio-open') c.sendText('40' + JSON.stringify({ token }))
          else if (f.type === 'sio-connected') c.sendText(`42${JSON.stringify(['join', { room }])}`)
          else if (f.type === 'joined' && f.room === room) resolve()
        },
        onClose () {}
      })
      c.wantPayload = true
      clients.push(c)
      if (!sio) c.opened().then(() => c.sendText(JSON.stringify({ action: 'join', room })), () => {})
    })
  }
  process.send!({ type: 'ready' })
  await new Promise<void>((resolve) => {
    process.on('message', (m: { type?: string, phase?: typeof phase }) => {
      if (m?.type === 'phase' && m.phase !== undefined) phase = m.phase
      else if (m?.type === 'report') resolve()
    })
  })
  for (const c of clients) c.close()
  return { name: 'bystanders', p99Before: p99(before), p99During: p99(during), before: before.length, during: during.length }
}

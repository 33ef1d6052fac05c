/**
 * Opening one socket: the token's transport, the browser-style WebSocket API (the global one, or
 * the `ws` package's in Node), and how a refused upgrade is told apart (with `ws`, its HTTP status
 * and `Retry-After`; a browser only sees a close with 1006). Also when and how soon to try again.
 */

/** The browser-style WebSocket the client needs (the global one, or the `ws` package's). */
export interface SocketLike {
  readonly readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send (data: string): void
  close (code?: number, reason?: string): void
}
export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike

/** What the server answered instead of upgrading, when the WebSocket implementation tells. */
export interface Refusal {
  status: number
  /** `Retry-After`, in ms, when the server sent one (503 under load, 429). */
  retryAfter?: number
}

/** `ws`'s own events, beside the browser API: only they show a refused upgrade's status. */
interface NodeSocket {
  on (event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number, headers: Record<string, string | string[] | undefined>, resume?: () => void }) => void): void
  terminate (): void
}

/** Opens a socket carrying `token`; `refused` hears the status of a refused upgrade (Node only). */
export function openSocket (
  Ctor: SocketConstructor,
  url: string,
  token: string,
  transport: 'subprotocol' | 'query',
  refused: (refusal: Refusal) => void
): SocketLike {
  const query = transport === 'query'
  const target = query ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url
  const socket = query ? new Ctor(target) : new Ctor(target, ['chat.v1', `bearer.${token}`])
  const node = socket as unknown as Partial<NodeSocket>
  if (typeof node.on === 'function' && typeof node.terminate === 'function') {
    node.on('unexpected-response', (_req, res) => {
      const header = res.headers['retry-after']
      const seconds = Number(Array.isArray(header) ? header[0] : header)
      refused({ status: res.statusCode ?? 0, ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfter: seconds * 1000 } : {}) })
      res.resume?.()
      // Handled here, so ws leaves the handshake to us: end it (a close with 1006 follows).
      node.terminate!()
    })
  }
  return socket
}

/**
 * Whether to try again after a close: not after a normal or policy close, nor an application
 * code (4000-4999: a kick, a ban) but 4001 (token expired), which a fresh token mends; not after
 * an upgrade refused as unauthorized (401, unless a fresh token may mend it), forbidden (403) or
 * malformed (400).
 */
export function retryable (code: number, refusal: Refusal | undefined, refreshable: boolean): boolean {
  if (refusal !== undefined) {
    if (refusal.status === 401) return refreshable
    if (refusal.status === 400 || refusal.status === 403 || refusal.status === 404) return false
    return true
  }
  if (code === 1000 || code === 1008) return false
  if (code === 4001) return refreshable
  return code < 4000 || code > 4999
}

export interface Backoff { minDelay?: number, maxDelay?: number, factor?: number, jitter?: number }

/**
 * The wait before attempt number `attempt` (0 first): exponential from `minDelay` up to
 * `maxDelay`, with `jitter` (a fraction) around it so that many clients cut at once do not come
 * back at once; never less than the server's `Retry-After`, plus up to as much again (full
 * jitter over the window the server asked for).
 */
export function backoffDelay (attempt: number, options: Backoff, retryAfter?: number): number {
  const min = options.minDelay ?? 250
  const max = options.maxDelay ?? 10_000
  const base = Math.min(max, min * (options.factor ?? 2) ** attempt)
  const jitter = options.jitter ?? 0.5
  const delay = base * (1 - jitter / 2 + Math.random() * jitter)
  if (retryAfter === undefined) return Math.round(delay)
  return Math.round(Math.max(delay, retryAfter + Math.random() * retryAfter))
}

/** A random id for refs: unique per message, so that a resend is recognised and a new message is not. */
export function uuid (): string {
  const c = globalThis.crypto as { randomUUID?: () => string } | undefined
  if (c?.randomUUID !== undefined) return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`
}

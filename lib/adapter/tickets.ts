/**
 * One-time tickets (`POST /chat/tickets`, then `?ticket=`): a small store of its own, so that
 * every process can redeem a ticket minted on another. The in-memory store serves one process;
 * an adapter that spans processes offers its own (`ChatAdapter.tickets`).
 */

export interface TicketStore {
  /** Keeps a ticket (the claims it stands for) for `ttl` ms. */
  issue (ticket: string, claims: string, ttl: number): Promise<void>
  /** Takes a ticket: its claims the first time within its ttl, null ever after (or if unknown). */
  redeem (ticket: string): Promise<string | null>
}

/** Most unredeemed tickets held at once (each lives at most its ttl). */
const MAX_TICKETS = 100_000

/** Tickets in this process's memory, bounded. */
export function memoryTicketStore (): TicketStore & { clear: () => void } {
  const tickets = new Map<string, { claims: string, expires: number }>()
  return {
    async issue (ticket, claims, ttl) {
      const now = Date.now()
      // Insertion order is expiry order (one ttl for all): the expired are at the front.
      for (const [t, e] of tickets) {
        if (e.expires > now && tickets.size < MAX_TICKETS) break
        tickets.delete(t)
      }
      tickets.set(ticket, { claims, expires: now + ttl })
    },
    async redeem (ticket) {
      const e = tickets.get(ticket)
      if (e === undefined) return null
      tickets.delete(ticket)
      return e.expires > Date.now() ? e.claims : null
    },
    clear () { tickets.clear() }
  }
}

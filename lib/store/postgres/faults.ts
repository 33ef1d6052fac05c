/** SQLSTATE classes and socket errors that mean "the database is away", not "this query is wrong". */
const AWAY_CODES = /^(08|53|57P|58)/
const AWAY_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
const AWAY_TEXT = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed|not queryable|Query read timeout/i

/** Whether a pg error means the database is unreachable (retryable). */
export function isUnavailable (err: unknown): boolean {
  const e = err as { code?: unknown, message?: unknown } | null
  if (e === null || typeof e !== 'object') return false
  if (typeof e.code === 'string' && (AWAY_CODES.test(e.code) || AWAY_ERRNO.has(e.code))) return true
  return typeof e.message === 'string' && AWAY_TEXT.test(e.message)
}

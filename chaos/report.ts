/**
 * The chaos run's report: the verdict, anomalies by kind with small witnesses, what the run
 * covered, each fault with the error rate during it and the time to recover after it, and a
 * timeline (SVG) of the faults over the requests' latency and errors. Pure: text in, text out.
 */
import type { Verdict } from './checker.js'
import type { ClientLog, FaultRecord } from './log.js'

export interface Coverage {
  /** From Redis's own error counters (INFO errorstats), summed over the run. */
  noscript: number
  /**
   * NOSCRIPT answers of a busy room's master during a SCRIPT FLUSH burst, between flushes made
   * while at least two users had messages to that room on their way.
   */
  noscriptTwoInFlight: number
  redirects: number
  tryagain: number
  failovers: number
  pgCrashesWithSendsInFlight: number
  /** Connections closed while their client had messages unacknowledged (resent with their ref). */
  resentRefs: number
  /** Resumes told they missed something (a new epoch, or too far behind). */
  unrecovered: number
  /**
   * Epochs seen after a room's first (a history started again). With the PostgreSQL store a room's
   * epoch is the store's, so a Redis failover makes none: 0 is what a run on the store should show.
   */
  newEpochs: number
}

/** What a run must have met to say anything: below any, the verdict is inconclusive. */
export const COVERAGE_MIN: Partial<Coverage> = { noscript: 1, noscriptTwoInFlight: 1, redirects: 1, failovers: 1, pgCrashesWithSendsInFlight: 1, resentRefs: 1 }

export function conclusive (c: Coverage, min: Partial<Coverage> = COVERAGE_MIN): string[] {
  return Object.entries(min).filter(([k, n]) => c[k as keyof Coverage] < (n ?? 0)).map(([k, n]) => `${k} ${c[k as keyof Coverage]} < ${n}`)
}

/** Every request's completion: when, how long it took, whether it failed. */
function completions (logs: ClientLog[]): Array<{ t: number, ms: number, failed: boolean }> {
  const out = []
  for (const { entries } of logs) {
    const asked = new Map<number, number>()
    for (const e of entries) {
      if (e.k === 'send' || e.k === 'edit' || e.k === 'delete' || e.k === 'join' || e.k === 'leave') asked.set(e.n, e.t)
      if ((e.k === 'ok' || e.k === 'fail') && asked.has(e.n)) out.push({ t: e.t, ms: e.t - asked.get(e.n)!, failed: e.k === 'fail' })
    }
  }
  return out.sort((a, b) => a.t - b.t)
}

export interface FaultImpact extends FaultRecord {
  errorRate: number
  /** From the fault's end to the last failure it caused (0: none after it ended), ms. */
  recovery: number
}

export function impacts (faults: FaultRecord[], logs: ClientLog[]): FaultImpact[] {
  const done = completions(logs)
  return faults.map((f) => {
    const during = done.filter((d) => d.t >= f.from && d.t <= f.to + 2000)
    const failed = during.filter((d) => d.failed).length
    const after = done.filter((d) => d.failed && d.t >= f.from && d.t <= f.to + 30_000)
    return { ...f, errorRate: during.length === 0 ? 0 : failed / during.length, recovery: after.length === 0 ? 0 : Math.max(0, after[after.length - 1].t - f.to) }
  })
}

/** The timeline: a row per fault kind, p50 latency of each second and its failed requests. */
export function timeline (faults: FaultRecord[], logs: ClientLog[], duration: number): string {
  const W = 1000
  const kinds = [...new Set(faults.map((f) => f.kind))]
  const rowH = 14
  const top = kinds.length * rowH + 10
  const H = top + 160
  const x = (t: number): number => 120 + (t / duration) * (W - 130)
  const seconds = Math.ceil(duration / 1000)
  const done = completions(logs)
  const p50: number[] = []
  const errors: number[] = []
  for (let s = 0; s < seconds; s++) {
    const inSecond = done.filter((d) => d.t >= s * 1000 && d.t < (s + 1) * 1000)
    const ms = inSecond.filter((d) => !d.failed).map((d) => d.ms).sort((a, b) => a - b)
    p50.push(ms.length === 0 ? 0 : ms[Math.floor(ms.length / 2)])
    errors.push(inSecond.filter((d) => d.failed).length)
  }
  const maxMs = Math.max(50, ...p50)
  const maxErr = Math.max(1, ...errors)
  const y = (v: number, max: number): number => H - 20 - (v / max) * 130
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="10">`]
  kinds.forEach((k, i) => {
    parts.push(`<text x="4" y="${i * rowH + 18}">${k}</text>`)
    for (const f of faults.filter((f) => f.kind === k)) parts.push(`<rect x="${x(f.from).toFixed(1)}" y="${i * rowH + 8}" width="${Math.max(2, x(f.to) - x(f.from)).toFixed(1)}" height="${rowH - 3}" fill="#d55"><title>${f.kind} ${f.target}</title></rect>`)
  })
  parts.push(`<text x="4" y="${top + 20}">p50 ms (max ${maxMs})</text><text x="4" y="${top + 34}" fill="#c60">errors/s (max ${maxErr})</text>`)
  parts.push(`<polyline fill="none" stroke="#36c" points="${p50.map((v, s) => `${x(s * 1000 + 500).toFixed(1)},${y(v, maxMs).toFixed(1)}`).join(' ')}"/>`)
  parts.push(`<polyline fill="none" stroke="#c60" points="${errors.map((v, s) => `${x(s * 1000 + 500).toFixed(1)},${y(v, maxErr).toFixed(1)}`).join(' ')}"/>`)
  parts.push(`<line x1="120" y1="${H - 20}" x2="${W - 10}" y2="${H - 20}" stroke="#999"/><text x="${W - 60}" y="${H - 6}">${seconds} s</text></svg>`)
  return parts.join('\n')
}

export function report (o: { seed: number, duration: number, command: string, verdict: Verdict, coverage: Coverage, faults: FaultRecord[], logs: ClientLog[], missing: string[] }): string {
  const v = o.verdict
  const state = !v.valid ? 'INVALID' : o.missing.length > 0 ? 'INCONCLUSIVE' : 'VALID'
  const lines = [
    `# Chaos run: ${state}`,
    '',
    `Seed ${o.seed}, ${Math.round(o.duration / 1000)} s. Replay: \`${o.command}\``,
    '',
    `Messages kept ${v.stats.messages}, acknowledged ${v.stats.acked}, refused ${v.stats.refused}, outcome unknown ${v.stats.unknown}; events delivered ${v.stats.delivered}; history pages ${v.stats.pages}; reconnects ${v.stats.reconnects}.`,
    '',
    '## Coverage',
    '',
    '| what | seen | at least |',
    '|---|---|---|',
    ...Object.entries(o.coverage).map(([k, n]) => `| ${k} | ${n} | ${COVERAGE_MIN[k as keyof Coverage] ?? '-'} |`),
    ''
  ]
  if (o.missing.length > 0) lines.push(`Below the coverage needed to conclude: ${o.missing.join(', ')}.`, '')
  lines.push('## Anomalies', '')
  if (v.anomalies.length === 0) lines.push('None.', '')
  for (const [kind, n] of Object.entries(v.counts)) {
    lines.push(`### ${kind} (${n})`, '')
    for (const a of v.anomalies.filter((x) => x.kind === kind).slice(0, 5)) {
      lines.push(`- ${a.message}`)
      if (a.witness.length > 0) lines.push('', '  ```', ...a.witness.map((w) => `  ${w}`), '  ```')
    }
    lines.push('')
  }
  lines.push('## Faults', '', '| from s | to s | fault | target | error rate | recovered after s |', '|---|---|---|---|---|---|')
  for (const f of impacts(o.faults, o.logs)) {
    lines.push(`| ${(f.from / 1000).toFixed(1)} | ${(f.to / 1000).toFixed(1)} | ${f.kind} | ${f.target} | ${(f.errorRate * 100).toFixed(1)}% | ${(f.recovery / 1000).toFixed(1)} |`)
  }
  lines.push('', '![timeline](timeline.svg)', '')
  return lines.join('\n')
}

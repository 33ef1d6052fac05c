/**
 * `npx tsx chaos/recheck.ts chaos-runs/<seed>`: the checker again, over a finished run's logs and
 * final history (a checker fixed after the run, or a run copied from elsewhere). Prints the verdict
 * and the anomalies; exit code 0 valid, 1 invalid.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { check } from './checker.js'
import type { ClientLog, Entry, FinalRoom } from './log.js'

const dir = process.argv[2]
if (dir === undefined) {
  console.error('usage: npx tsx chaos/recheck.ts <run folder>')
  process.exit(3)
}
const logs: ClientLog[] = readdirSync(join(dir, 'logs')).filter((f) => /^c\d+\.jsonl$/.test(f)).sort().map((f) => {
  const client = f.slice(0, -'.jsonl'.length)
  const entries = readFileSync(join(dir, 'logs', f), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry)
  return { client, userId: `u${client.slice(1)}`, entries }
})
const rooms = JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as FinalRoom[]
const verdict = check(logs, rooms)
console.log(`${verdict.valid ? 'VALID' : 'INVALID'}: ${JSON.stringify(verdict.counts)}; ${JSON.stringify(verdict.stats)}`)
for (const a of verdict.anomalies.slice(0, 20)) console.log(`- ${a.kind}: ${a.message}`)
process.exit(verdict.valid ? 0 : 1)

// Summarizes a .cpuprofile (node --cpu-prof): the functions with the most self time.
//   npx tsx bench/top-frames.ts FILE [N]
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }
const [file, n = '20'] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[], samples: number[], timeDeltas: number[] }
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const byFrame = new Map<string, number>()
let total = 0
for (const node of profile.nodes) {
  const t = self.get(node.id) ?? 0
  total += t
  const { functionName, url, lineNumber } = node.callFrame
  const where = url === '' ? '' : ` ${relative(process.cwd(), url.replace('file://', ''))}:${lineNumber + 1}`
  const key = `${functionName || '(anonymous)'}${where}`
  byFrame.set(key, (byFrame.get(key) ?? 0) + t)
}
const top = [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, Number(n))
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`)
for (const [frame, t] of top) console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${frame}`)

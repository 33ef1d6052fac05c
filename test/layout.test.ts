// The layout ARCHITECTURE.md promises: no import cycle between lib/ files (type imports count:
// a cycle is a cycle for a reader too), and only the files named for it touch ws, JWT or Redis.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const lib = join(__dirname, '..', 'lib')

function files (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

const sources = new Map(files(lib).map((f) => [f, readFileSync(f, 'utf8')]))
const imports = new Map<string, string[]>()
for (const [file, text] of sources) {
  const local: string[] = []
  for (const m of text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/gm)) {
    local.push(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')))
  }
  imports.set(file, local)
}

t.test('no import cycle between lib/ files', async (t) => {
  const cycles: string[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(lib, f)).join(' -> '))
      return
    }
    state.set(file, 'visiting')
    for (const next of imports.get(file) ?? []) visit(next, [...path, file])
    state.set(file, 'done')
  }
  for (const file of sources.keys()) visit(file, [])
  t.same(cycles, [])
  t.ok(sources.size > 30, `${sources.size} files checked`)
})

t.test('one file knows JWT, one folder Redis, one PostgreSQL, and only the transport holds ws', async (t) => {
  // Code only: a comment may mention anything.
  const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const users = (pattern: RegExp): string[] => [...sources].filter(([, text]) => pattern.test(code(text))).map(([f]) => relative(lib, f)).sort()
  // Type imports of @fastify/jwt's option types are fine; verifying or signing is auth.ts's job.
  t.same(users(/^import (?!type)[^\n]*from '@fastify\/jwt'|\.jwtVerify\(|\.jwt\.(verify|sign|decode)\(/m), ['auth.ts', 'index.ts'], 'JWT: auth.ts (and index.ts registering @fastify/jwt)')
  t.ok(users(/from 'ioredis'/).every((f) => f.startsWith('adapter/redis')), 'ioredis only under adapter/redis')
  t.same(users(/from 'pg'|import\('pg'\)|\.query\(/).filter((f) => !f.startsWith('store/postgres/')), [], 'PostgreSQL only under store/postgres')
  t.ok(users(/import\('pg'\)/).length === 1, 'pg is loaded in one place')
  t.same(users(/from 'ws'/), ['transport/connection.ts', 'transport/ws-internals.ts'], 'ws types only in the transport')
  t.same(users(/\._socket\b|_httpMessage/), ['transport/ws-internals.ts'], "ws's private fields only in ws-internals.ts")
})

t.test('the two backend contracts depend only on leaf values: never on each other, never on core/', async (t) => {
  // adapter/ (memory and Redis, and the adapter contract) and store/ (the store contract and
  // PostgreSQL) are written against model.ts, the protocol's frames and the error codes: a new
  // backend of either kind is written without the other or the core.
  const under = (dir: string) => [...imports].filter(([f]) => relative(lib, f).startsWith(`${dir}/`))
  const reaching = (dir: string, target: string): string[] => under(dir)
    .flatMap(([f, deps]) => deps.filter((d) => relative(lib, d).startsWith(`${target}/`)).map((d) => `${relative(lib, f)} -> ${relative(lib, d)}`))
  t.same(reaching('adapter', 'core'), [], 'adapter/ imports nothing of core/')
  t.same(reaching('store', 'core'), [], 'store/ imports nothing of core/')
  t.same(reaching('store', 'adapter'), [], 'store/ imports nothing of adapter/')
  t.same(reaching('adapter', 'store'), [], 'adapter/ imports nothing of store/')
  t.ok(under('adapter').length > 20 && under('store').length > 5, 'both folders checked')
})

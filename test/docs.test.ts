// The documentation stays true: every option is in docs/options.md, every error code in
// docs/errors.md, every frame in docs/protocol.md, every relative link resolves (to a heading
// too), ARCHITECTURE.md names every file of lib/, the README stays under 20 KB, and every code
// block marked `<!-- runnable -->` runs as pasted in a fresh `npm init` project (CommonJS, ESM or
// TypeScript, type-checked with the project's own strict settings).
import { spawn, execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import * as errors from '../lib/errors.js'
import { CloseCode, ErrorCode } from '../lib/constants.js'
import { clientSchemas, ServerFrames } from '../lib/protocol/schemas.js'
import { DATABASE_URL } from './pg-helpers.js'
import { freePort, REDIS_URL } from './redis-helpers.js'

const root = join(__dirname, '..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')
const guides = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
const documents = ['README.md', 'ARCHITECTURE.md', 'bench/README.md', ...guides]

/** The property names of an interface in a TypeScript file (its own lines, two spaces in). */
function keysOf (file: string, name: string): string[] {
  const text = read(file)
  const start = text.indexOf(`export interface ${name} {`)
  if (start < 0) throw new Error(`no interface ${name} in ${file}`)
  const body = text.slice(start, text.indexOf('\n}', start))
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1])
}

t.test('every option is in docs/options.md', async (t) => {
  const doc = read('docs/options.md')
  const options = [
    ...keysOf('lib/types.ts', 'ChatPluginOptions'),
    ...keysOf('lib/types.ts', 'TokenRules'),
    ...keysOf('lib/types.ts', 'RateLimitOptions'),
    ...keysOf('lib/types.ts', 'HistoryOptions'),
    'by', 'limit', 'batch', 'maxEventLoopDelay', 'maxPendingUpgrades', 'retryAfter',
    ...keysOf('lib/adapter/redis/options.ts', 'RedisAdapterOptions'),
    ...keysOf('lib/store/postgres/options.ts', 'PostgresStoreOptions'),
    'maxAge', 'maxPerRoom', 'interval'
  ]
  t.ok(options.length > 60, `${options.length} options`)
  for (const o of options) t.match(doc, new RegExp(`[\`{ ]${o}[\`:?( ]`), o)
})

t.test('every error code and close code is in docs/errors.md, every frame in docs/protocol.md', async (t) => {
  const doc = read('docs/errors.md')
  const codes = Object.values(errors)
    .filter((E) => typeof E === 'function')
    .map((E) => new (E as new (...a: unknown[]) => { code: string })().code)
  t.ok(codes.length > 20, `${codes.length} FST_CHAT_* codes`)
  for (const code of codes) t.ok(doc.includes(`\`${code}\``), code)
  for (const code of Object.values(ErrorCode)) t.ok(doc.includes(`\`${code}\``), code)
  for (const code of Object.values(CloseCode)) t.match(doc, new RegExp(`^\\| ${code} `, 'm'), `close code ${code}`)

  const protocol = read('docs/protocol.md')
  const actions = Object.values(clientSchemas(4000))
    .map((s) => (s as { properties?: { action?: { const?: string } } }).properties?.action?.const)
    .filter((a): a is string => a !== undefined)
  t.ok(actions.length >= 10, `${actions.length} actions`)
  for (const a of actions) t.ok(protocol.includes(`"action":"${a}"`), `action ${a}`)
  for (const type of Object.keys(ServerFrames)) t.ok(protocol.includes(`"type":"${type}"`), `frame ${type}`)
})

/** GitHub's anchor of a heading. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

function anchors (file: string): Set<string> {
  const text = read(file).replace(/```[\s\S]*?```/g, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])))
}

t.test('every relative link resolves, to its heading too', async (t) => {
  let count = 0
  for (const doc of documents) {
    const text = read(doc).replace(/```[\s\S]*?```/g, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue
      count++
      const [path, anchor] = target.split('#')
      const file = path === '' ? doc : relative(root, resolve(dirname(join(root, doc)), path))
      if (!existsSync(join(root, file))) {
        t.fail(`${doc}: ${target} does not exist`)
        continue
      }
      if (anchor !== undefined && file.endsWith('.md')) t.ok(anchors(file).has(anchor), `${doc}: ${target}`)
    }
  }
  t.ok(count > 50, `${count} links`)
})

t.test('the README is the front door: under 20 KB; the guides are indexed', async (t) => {
  const readme = read('README.md')
  t.ok(Buffer.byteLength(readme) < 20 * 1024, `README.md is ${Buffer.byteLength(readme)} bytes`)
  const index = read('docs/README.md')
  for (const guide of guides) {
    if (guide === 'docs/README.md') continue
    t.ok(index.includes(`](${guide.slice('docs/'.length)})`), `docs/README.md links ${guide}`)
  }
})

t.test('ARCHITECTURE.md names every file of lib/, and no file that is not there', async (t) => {
  const arch = read('ARCHITECTURE.md')
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f)
      if (statSync(p).isDirectory()) walk(p)
      else if (f.endsWith('.ts')) files.push(relative(join(root, 'lib'), p))
    }
  }
  walk(join(root, 'lib'))
  for (const f of files) {
    const name = f.split('/').at(-1)!
    t.match(arch, new RegExp(`(^|[\\s(,])${name.replace('.', '\\.')}\\b`), `lib/${f}`)
  }
  // The tree of lib/: its indented lines, up to the next top-level folder (chaos/, ...).
  const tree = (/```\nlib\/\n([\s\S]*?)```/.exec(arch)?.[1] ?? '').split(/\n(?=\S)/)[0]
  t.ok(tree.length > 0, 'the tree of lib/ is there')
  const names = new Set(files.map((f) => f.split('/').at(-1)!))
  for (const [, name] of tree.matchAll(/(?:^|[\s(,])([\w-]+\.ts)\b/g)) t.ok(names.has(name), `${name} is in lib/`)
})

interface Snippet { doc: string, line: number, kind: 'cjs' | 'esm' | 'ts', code: string }

/** The code blocks marked `<!-- runnable -->` (or `<!-- runnable: cjs|esm|ts -->`). */
function snippets (): Snippet[] {
  const out: Snippet[] = []
  for (const doc of ['README.md', ...guides]) {
    const text = read(doc)
    for (const m of text.matchAll(/<!-- runnable(?:: (cjs|esm|ts))? -->\n```(js|ts)\n([\s\S]*?)```/g)) {
      const code = m[3]
      const kind = (m[1] ?? (m[2] === 'ts' ? 'ts' : /^import /m.test(code) ? 'esm' : 'cjs')) as Snippet['kind']
      out.push({ doc, line: text.slice(0, m.index).split('\n').length + 2, kind, code })
    }
  }
  return out
}

/** A fresh `npm init` project of a kind, with the repository's packages (and this one) installed. */
function project (kind: Snippet['kind']): string {
  const dir = join(root, 'test-artifacts', `fresh-${kind}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  const pkg = { name: `fresh-${kind}`, version: '1.0.0', private: true, type: kind === 'cjs' ? 'commonjs' : 'module' }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'fastify-chat') continue
    symlinkSync(join(root, 'node_modules', entry), join(dir, 'node_modules', entry))
  }
  symlinkSync(root, join(dir, 'node_modules', 'fastify-chat'))
  if (kind === 'ts') {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      include: ['*.ts']
    }, null, 2))
  }
  return dir
}

async function runSnippet (file: string, cwd: string, kind: Snippet['kind'], port: number): Promise<{ ok: boolean, out: string }> {
  const args = kind === 'ts' ? ['--import', 'tsx', file] : [file]
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, PORT: String(port), JWT_SECRET: 'snippet-secret-snippet-secret-snippet-00', DATABASE_URL, REDIS_URL },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  return await new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      clearInterval(poll)
      if (child.exitCode === null) child.kill('SIGKILL')
      resolve({ ok, out })
    }
    // A server is done when it listens (then stopped); a script when it exits 0.
    const poll = setInterval(() => { if (/Server listening/.test(out)) done(true) }, 50)
    const timer = setTimeout(() => done(false), 30_000)
    child.on('exit', (code) => done(code === 0))
  })
}

t.test('every runnable snippet runs as pasted in a fresh project', async (t) => {
  // A process and a type-check per snippet: slow on a busy machine, never stuck (each has 30 s).
  t.setTimeout(300_000)
  const all = snippets()
  t.ok(all.length >= 8, `${all.length} runnable snippets`)
  for (const kind of ['cjs', 'esm', 'ts'] as const) {
    const mine = all.filter((s) => s.kind === kind)
    if (mine.length === 0) continue
    const dir = project(kind)
    const files = mine.map((s, i) => {
      const file = `${s.doc.replace(/[/.]/g, '-')}-${s.line}.${kind === 'cjs' ? 'js' : kind === 'esm' ? 'js' : 'ts'}`
      writeFileSync(join(dir, file), s.code)
      return { s, file, i }
    })
    if (kind === 'ts') {
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
      const result = await new Promise<{ code: number, out: string }>((resolve) => {
        execFile(process.execPath, [tsc, '-p', dir], { cwd: dir }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, out: stdout + stderr }))
      })
      t.equal(result.code, 0, `the TypeScript snippets type-check strictly: ${result.out}`)
    }
    for (const { s, file } of files) {
      const { ok, out } = await runSnippet(file, dir, kind, await freePort())
      t.ok(ok, `${s.doc}:${s.line} (${kind}) runs${ok ? '' : `: ${out.slice(-2000)}`}`)
    }
  }
})

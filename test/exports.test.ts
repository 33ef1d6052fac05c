import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

// `npm test` builds first (see package.json); these check the build as a host would load it.
const run = promisify(execFile)
const root = join(__dirname, '..')
const fixtures = join(__dirname, 'fixtures')

t.test('an ESM host imports the built package: default and named exports, and it works', async (t) => {
  const { stdout } = await run(process.execPath, [join(fixtures, 'esm-host.mjs')], { cwd: root })
  t.match(stdout, /esm welcome esm-user/)
  t.match(stdout, /esm rooms \[\{"name":"lobby","members":1\}\]/)
})

t.test('a CommonJS host requires the built package, and it works', async (t) => {
  const { stdout } = await run(process.execPath, [join(fixtures, 'cjs-host.cjs')], { cwd: root })
  t.match(stdout, /cjs welcome cjs-user/)
  t.match(stdout, /cjs rooms \[\{"name":"lobby","members":1\}\]/)
})

t.test('the built .d.ts type-check ESM and CommonJS TypeScript hosts', async (t) => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = await run(process.execPath, [tsc, '-p', join(fixtures, 'types', 'tsconfig.json')], { cwd: root })
    .then(() => ({ code: 0, out: '' }), (err: { code: number, stdout: string }) => ({ code: err.code, out: err.stdout }))
  t.equal(result.code, 0, result.out)
})

t.test('npm pack on a clean checkout builds first: the package has its dist', async (t) => {
  // A copy of the tracked files, without dist/ (as a fresh clone or a git install has it).
  const { mkdtemp, cp, rm, symlink } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const dir = await mkdtemp(join(tmpdir(), 'fastify-chat-pack-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Tracked files and new ones not yet committed (but not what .gitignore leaves out).
  const { stdout: files } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root })
  for (const file of files.split('\n').filter((f) => f !== '')) await cp(join(root, file), join(dir, file), { recursive: true })
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: dir, maxBuffer: 16 * 1024 * 1024 })
  const packed = new Set((JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path))
  for (const file of ['dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/client.mjs', 'dist/cjs/client/index.js']) {
    t.ok(packed.has(file), `${file} is in the package`)
  }
})

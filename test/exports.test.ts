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

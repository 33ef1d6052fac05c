// What the package says about Node is true of what it installs: its runtime dependencies run on
// every Node it accepts (`engines`), and its development tree on the Node that development needs
// (`devEngines`), so `npm install` on a supported Node prints no EBADENGINE warning.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import semver from 'semver'

const root = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))

t.test('every locked package accepts the Node versions the package states', async (t) => {
  const runtimeMin = semver.minVersion(pkg.engines.node)!.version
  const devMin = semver.minVersion(pkg.devEngines.runtime.version)!.version
  t.equal(runtimeMin, '20.0.0', 'engines: Node 20 and later')
  const refused: string[] = []
  let checked = 0
  for (const [path, entry] of Object.entries<any>(lock.packages)) {
    const range = entry.engines?.node
    if (path === '' || typeof range !== 'string') continue
    checked++
    const min = entry.dev === true ? devMin : runtimeMin
    if (!semver.satisfies(min, range)) refused.push(`${path} needs ${range} (${entry.dev === true ? 'development' : 'runtime'}, we state ${min})`)
  }
  t.ok(checked > 50, `${checked} packages state their engines`)
  t.same(refused, [], 'none refuses a Node version we state')
})

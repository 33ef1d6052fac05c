// A chat process of the tests' own: test/fixtures/cluster-node.ts as a child process, killed when
// the test ends; resolves once it listens, with its port.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Test } from 'tap'

export interface NodeProcess { child: ChildProcess, port: number }

export async function spawnNode (t: Test, env: Record<string, string | undefined>): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'cluster-node.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node did not start: ${out}`)), 20_000)
    child.stdout!.on('data', (d) => {
      out += d
      const m = /READY (\d+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the node exited with ${code}`)) })
  })
  return { child, port }
}

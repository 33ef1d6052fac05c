// What every benchmark server shares: it reports its port when listening and answers the
// orchestrator's memory probe (after a forced GC) over the IPC channel.

export function ready (port: number): void {
  process.send?.({ type: 'ready', port })
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type !== 'mem') return
    // Several passes: weak callbacks and finalizers free more on the second.
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.()
    const m = process.memoryUsage()
    process.send?.({ type: 'mem', rss: m.rss, heapUsed: m.heapUsed, external: m.external })
  })
  process.on('disconnect', () => process.exit(0))
  // A clean exit writes the --cpu-prof profile.
  process.on('SIGTERM', () => process.exit(0))
}

export const SECRET = process.env.BENCH_SECRET ?? 'bench-secret-bench-secret-bench-secret'
export const PORT = Number(process.env.PORT ?? 0)

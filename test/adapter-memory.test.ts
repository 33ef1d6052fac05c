import t from 'tap'
import { createMemoryBus, memoryAdapter } from '../lib/index.js'
import { adapterContract } from './adapter-contract.js'

// Each node gets its own factory call on one shared bus, as processes share one Redis.
adapterContract(t, 'memory', () => {
  const bus = createMemoryBus()
  return { factory: () => memoryAdapter({ bus }) }
})

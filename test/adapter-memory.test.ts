import t from 'tap'
import { memoryAdapter } from '../lib/index.js'
import { adapterContract } from './adapter-contract.js'

adapterContract(t, 'memory', memoryAdapter)

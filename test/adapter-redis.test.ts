import t from 'tap'
import { redisAdapter } from '../lib/index.js'
import { adapterContract } from './adapter-contract.js'
import { dropPrefix, hostClient, redisReady, testPrefix } from './redis-helpers.js'

t.test('redis adapter', async (t) => {
  if (!await redisReady(t)) return
  const prefix = testPrefix()
  t.after(() => dropPrefix(prefix))
  adapterContract(t, 'redis', () => redisAdapter({ client: hostClient(t), prefix }))
})

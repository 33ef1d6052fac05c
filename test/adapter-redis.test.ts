import t from 'tap'
import { redisAdapter } from '../lib/index.js'
import { adapterContract } from './adapter-contract.js'
import { clusterReady, dropClusterPrefix, dropPrefix, hostClient, hostCluster, redisReady, testPrefix } from './redis-helpers.js'

t.test('redis adapter', async (t) => {
  if (!await redisReady(t)) return
  adapterContract(t, 'redis', () => {
    const prefix = testPrefix()
    return {
      factory: () => redisAdapter({ client: hostClient(t), prefix, heartbeatInterval: 200, nodeTimeout: 1000 }),
      cleanup: async () => await dropPrefix(prefix)
    }
  })
})

t.test('redis adapter on a Redis Cluster', async (t) => {
  if (!await clusterReady(t)) return
  adapterContract(t, 'redis cluster', () => {
    const prefix = testPrefix()
    return {
      factory: () => redisAdapter({ client: hostCluster(t), prefix, heartbeatInterval: 200, nodeTimeout: 1000 }),
      cleanup: async () => await dropClusterPrefix(prefix)
    }
  })
})

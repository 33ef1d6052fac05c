// Rooms as records (store/rooms-contract.ts): the contract run against the store in memory and the
// PostgreSQL one (two instances on one schema for the latter: two processes).
import t from 'tap'
import { MemoryRoomStore } from '../lib/store/memory/rooms.js'
import { migrate } from '../lib/store/postgres/migrate.js'
import { PostgresRoomStore } from '../lib/store/postgres/rooms.js'
import { hostPool, pgReady, testSchema } from './pg-helpers.js'
import { roomStoreContract } from './rooms-store-contract.js'

t.test('in memory', async (t) => {
  roomStoreContract(t, { open: async () => ({ store: new MemoryRoomStore() }) })
})

t.test('in PostgreSQL', async (t) => {
  if (!await pgReady(t)) return
  roomStoreContract(t, {
    open: async (t) => {
      const schema = testSchema(t)
      const pool = hostPool(t)
      await migrate(pool as never, schema)
      return { store: new PostgresRoomStore(pool as never, schema), second: async () => new PostgresRoomStore(hostPool(t) as never, schema) }
    }
  })
})

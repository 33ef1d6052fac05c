import { readFileSync } from 'node:fs'
import t from 'tap'
import { protocolSchema, SCHEMA_FILE } from '../scripts/protocol-schema.js'

t.test('docs/protocol.schema.json is generated from the schemas the plugin validates with', async (t) => {
  const committed = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))
  t.same(committed, JSON.parse(JSON.stringify(protocolSchema())), 'up to date: run npx tsx scripts/protocol-schema.ts')
  t.ok(committed.client.join && committed.client.message && committed.server.message && committed.server.error)
})

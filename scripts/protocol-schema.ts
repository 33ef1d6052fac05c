// Writes docs/protocol.schema.json: the JSON Schema of every frame of the wire protocol, from the
// TypeBox schemas the plugin validates with (`npx tsx scripts/protocol-schema.ts`; a test checks
// the committed file is current).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { clientSchemas, ServerFrames } from '../lib/protocol/schemas.js'

export function protocolSchema (): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'fastify-chat wire protocol',
    description: 'Client frames (with the default maxMessageLength of 4000) and server frames, JSON text over WebSocket.',
    client: clientSchemas(4000),
    server: ServerFrames
  }
}

export const SCHEMA_FILE = join(__dirname, '..', 'docs', 'protocol.schema.json')

if (require.main === module) {
  writeFileSync(SCHEMA_FILE, JSON.stringify(protocolSchema(), null, 2) + '\n')
  console.log(`wrote ${SCHEMA_FILE}`)
}

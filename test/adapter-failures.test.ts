// A backend that fails a message's publish: the sender hears a retryable UNAVAILABLE with its ref
// and keeps its socket, whether the adapter rejects or (a host's own adapter) throws at once.
import t from 'tap'
import { memoryAdapter, type AdapterFactory } from '../lib/index.js'
import { FST_CHAT_UNAVAILABLE } from '../lib/errors.js'
import { build, connect, token } from './helpers.js'

/** The memory adapter, with its next publishes failing: by rejecting, or by throwing. */
function failing (how: 'reject' | 'throw'): { factory: AdapterFactory, fail: (n: number) => void } {
  let failures = 0
  const factory: AdapterFactory = async (node) => {
    const adapter = await memoryAdapter()(node)
    const publish = adapter.publishMessage.bind(adapter)
    adapter.publishMessage = (room, draft) => {
      if (failures > 0) {
        failures--
        const err = new FST_CHAT_UNAVAILABLE('the backend is down')
        if (how === 'throw') throw err
        return Promise.reject(err)
      }
      return publish(room, draft)
    }
    return adapter
  }
  return { factory, fail: (n) => { failures = n } }
}

for (const how of ['reject', 'throw'] as const) {
  t.test(`an adapter that fails a publish (${how}s): UNAVAILABLE with the ref, the socket kept, a resend works`, async (t) => {
    const backend = failing(how)
    const app = await build(t, { adapter: backend.factory })
    const a = await connect(app, token({ sub: 'alice' }))
    backend.fail(1)
    t.match(await a.request({ action: 'message', room: 'lobby', content: 'hello', ref: 'r1' }), { type: 'error', code: 'UNAVAILABLE', ref: 'r1' })
    t.match(await a.request({ action: 'message', room: 'lobby', content: 'hello', ref: 'r1' }), { type: 'ack', ref: 'r1' }, 'the resend goes through')
    t.match(await a.next('message'), { content: 'hello' })
    a.close()
  })
}

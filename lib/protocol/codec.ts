/**
 * Frames in and out: `decode` turns one raw WebSocket message into a validated request or an
 * error to answer; `encode` serializes a server frame (once per broadcast, not per recipient).
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { ErrorCode } from '../constants.js'
import { userIdProblem } from '../user-id.js'
import { clientSchemas, Ref, type ClientRequest, type ServerFrame } from './schemas.js'

export type Decoded =
  | { ok: true, request: ClientRequest }
  | { ok: false, code: ErrorCode, message: string, ref?: Ref }

export interface Codec {
  decode (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): Decoded
}

const checkRef = TypeCompiler.Compile(Ref)

function describe (check: TypeCheck<TSchema>, value: unknown): string {
  const first = check.Errors(value).First()
  if (first === undefined) return 'invalid request'
  return first.path === '' ? first.message : `${first.path.slice(1)}: ${first.message}`
}

function toText (data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

export interface CodecOptions {
  maxMessageLength: number
  /** The longest user id (see user-id.ts). */
  userIdMax: number
  /** Most bytes of a message's `meta`, serialized. */
  maxMetaBytes: number
  /** The host's schema for `meta` (TypeBox), if any. */
  metaSchema?: TSchema
}

/** An escaped U+0000 in JSON text (an odd run of backslashes before u0000). */
const NUL_IN_JSON = /(?:^|[^\\])(?:\\\\)*\\u0000/

/** Builds the decoder for one plugin instance (the limits are options). */
export function createCodec (options: CodecOptions): Codec {
  const schemas = clientSchemas(options.maxMessageLength, options.userIdMax)
  // A Map, not an object: `action` is user input ("__proto__" must be just an unknown action).
  const byAction = new Map<unknown, TypeCheck<TSchema>>([
    ['join', TypeCompiler.Compile(schemas.join)],
    ['leave', TypeCompiler.Compile(schemas.leave)],
    ['message', TypeCompiler.Compile(schemas.message)],
    ['dm', TypeCompiler.Compile(schemas.dm)],
    ['edit', TypeCompiler.Compile(schemas.edit)],
    ['delete', TypeCompiler.Compile(schemas.delete)],
    ['typing', TypeCompiler.Compile(schemas.typing)],
    ['read', TypeCompiler.Compile(schemas.read)],
    ['watch', TypeCompiler.Compile(schemas.watch)],
    ['unwatch', TypeCompiler.Compile(schemas.unwatch)],
    ['refresh', TypeCompiler.Compile(schemas.refresh)],
    [undefined, TypeCompiler.Compile(schemas.plain)]
  ])
  const metaCheck = options.metaSchema === undefined ? undefined : TypeCompiler.Compile(options.metaSchema)
  /** Why a request's meta is refused, or undefined when it is fine (or absent). */
  const metaProblem = (meta: unknown): string | undefined => {
    if (meta === undefined) return undefined
    const json = JSON.stringify(meta)
    if (Buffer.byteLength(json) > options.maxMetaBytes) return `meta: at most ${options.maxMetaBytes} bytes of JSON`
    if (NUL_IN_JSON.test(json)) return 'meta may not contain U+0000'
    if (metaCheck !== undefined && !metaCheck.Check(meta)) return `meta${describe(metaCheck, meta).replace(/^([^:]*):/, '/$1:')}`
    return undefined
  }

  return {
    decode (data, isBinary) {
      if (isBinary) {
        return { ok: false, code: ErrorCode.UNSUPPORTED, message: 'binary frames are not supported: send JSON text' }
      }
      let value: unknown
      try {
        value = JSON.parse(toText(data))
      } catch {
        return { ok: false, code: ErrorCode.BAD_JSON, message: 'the frame is not valid JSON' }
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return { ok: false, code: ErrorCode.BAD_REQUEST, message: 'a request must be a JSON object' }
      }
      const record = value as Record<string, unknown>
      // Own properties only: JSON.parse makes "__proto__" an own key, never the prototype.
      const ref = Object.hasOwn(record, 'ref') && checkRef.Check(record.ref) ? record.ref as Ref : undefined
      const action = Object.hasOwn(record, 'action') ? record.action : undefined
      const check = byAction.get(action)
      if (check === undefined) {
        const shown = typeof action === 'string' ? `"${action.slice(0, 32)}"` : typeof action
        return withRef({ ok: false, code: ErrorCode.BAD_REQUEST, message: `unknown action ${shown}: use join, leave, message, dm, typing, read, edit, delete, watch, unwatch or refresh` }, ref)
      }
      if (!check.Check(value)) {
        return withRef({ ok: false, code: ErrorCode.BAD_REQUEST, message: describe(check, value) }, ref)
      }
      // No store can keep U+0000 in text (PostgreSQL refuses it): refused everywhere, so that a
      // chat behaves the same with and without one.
      if ((typeof record.content === 'string' && record.content.includes('\0')) || (typeof ref === 'string' && ref.includes('\0'))) {
        return withRef({ ok: false, code: ErrorCode.BAD_REQUEST, message: 'content and ref may not contain U+0000' }, ref)
      }
      // What a schema does not say of a user id (reserved ids, unpaired surrogates), the same check
      // as everywhere else.
      const ids = typeof record.to === 'string' ? [record.to] : Array.isArray(record.users) ? record.users as string[] : []
      for (const id of ids) {
        const bad = userIdProblem(id, options.userIdMax)
        if (bad !== undefined) return withRef({ ok: false, code: ErrorCode.BAD_REQUEST, message: `${typeof record.to === 'string' ? 'to' : 'users'}: a user id ${bad}` }, ref)
      }
      const problem = metaProblem(record.meta)
      if (problem !== undefined) return withRef({ ok: false, code: ErrorCode.BAD_REQUEST, message: problem }, ref)
      return { ok: true, request: value as ClientRequest }
    }
  }
}

function withRef (result: Extract<Decoded, { ok: false }>, ref: Ref | undefined): Decoded {
  if (ref !== undefined) result.ref = ref
  return result
}

/** Serializes a server frame. Call once per broadcast and send the same string to every member. */
export function encode (frame: ServerFrame): string {
  return JSON.stringify(frame)
}

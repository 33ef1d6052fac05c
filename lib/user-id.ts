/**
 * What a user id is, the same wherever one enters: a token's `sub`, a direct message's `to`,
 * `watch`'s users, a REST path parameter, `app.chat`'s arguments. At most `max` characters: 256,
 * or the router's `maxParamLength` when that is lower, so that every id the socket accepts also
 * fits `/users/:userId/presence` and the moderation routes.
 */
import { Type } from '@sinclair/typebox'

/** The longest user id, when the router allows it (Fastify's default `maxParamLength` is 100). */
export const MAX_USER_ID = 256

/**
 * C0 and C1 controls, DEL, and the invisible format characters that make one id look like
 * another or reorder text around it: soft hyphen, Arabic letter mark, Mongolian vowel separator,
 * zero-width and directional marks, line and paragraph separators, bidirectional embeddings,
 * overrides and isolates, word joiners and invisible operators, BOM, interlinear annotations.
 */
const FORBIDDEN_CHARS = '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb'
const FORBIDDEN = new RegExp(`[${FORBIDDEN_CHARS}]`)
/** A UTF-16 surrogate without its pair (not a character: it cannot be encoded, in a URL or as UTF-8). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Ids that mean something else: the sender of server messages, and a name objects treat as their prototype. */
const RESERVED = new Set(['server', '__proto__'])

/** Why `id` is not a usable user id, or undefined when it is one. */
export function userIdProblem (id: unknown, max: number): string | undefined {
  if (typeof id !== 'string' || id === '') return 'must be a non-empty string'
  if (id.length > max) return `must be at most ${max} characters`
  if (FORBIDDEN.test(id)) return 'may not contain control, bidirectional-control or other invisible characters'
  if (LONE_SURROGATE.test(id)) return 'may not contain an unpaired surrogate'
  if (RESERVED.has(id)) return `${JSON.stringify(id)} is reserved`
  return undefined
}

/**
 * A user id's schema for a request (frames, REST parameters): the length and the characters. The
 * reserved ids and unpaired surrogates are refused by `userIdProblem` where the id is used.
 */
export function userIdSchema (max: number, description?: string) {
  return Type.String({ minLength: 1, maxLength: max, pattern: `^[^${FORBIDDEN_CHARS}]+$`, ...(description === undefined ? {} : { description }) })
}

/** The router's `maxParamLength` (Fastify's default: 100), which caps a user id. */
export function routerParamLimit (initialConfig: { routerOptions?: { maxParamLength?: number }, maxParamLength?: number }): number {
  return initialConfig.routerOptions?.maxParamLength ?? initialConfig.maxParamLength ?? 100
}

/** What every history serves of an edit once its message is deleted (the adapters' and the store's alike). */

/**
 * An `edited` frame with its content and meta gone (its message was deleted since): what every
 * history serves of it from then on, as the store does. Any other frame comes back as it is.
 */
export function scrubbedEdit (text: string): string {
  if (!text.startsWith('{"type":"edited"')) return text
  const m = JSON.parse(text) as Record<string, unknown>
  m.content = ''
  delete m.meta
  return JSON.stringify(m)
}

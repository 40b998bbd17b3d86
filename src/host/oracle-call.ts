/**
 * Running a host's oracle for a script: the output (or the failure) as
 * canonical JSON, `{"ok": value}` or `{"error": {code, message}}`, which the
 * call's entry records and a replay hands back without running anything.
 */
import { canonicalStringify } from '../canonical-json.js'

export async function runOracle(fn: ((...args: any[]) => unknown) | undefined, name: string, input: string, opts: { maxBytes: number; timeoutMs: number }): Promise<string> {
  const fail = (code: string, message: string) => canonicalStringify({ error: { code, message: message.slice(0, 1024) } }, opts.maxBytes)!
  if (!fn) return fail('ORACLE_UNAVAILABLE', `this host has no oracle ${name}`)
  let timer: NodeJS.Timeout | null = null
  try {
    const args = JSON.parse(input) as unknown[]
    const value = await Promise.race([
      Promise.resolve().then(() => fn(...args)),
      new Promise((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: 'ORACLE_TIMEOUT' })), opts.timeoutMs) })
    ])
    return canonicalStringify({ ok: value }, opts.maxBytes) ?? '{}'
  } catch (err) {
    const e = err as Error & { code?: string }
    return fail(e.code === 'ORACLE_TIMEOUT' ? 'ORACLE_TIMEOUT' : e.name === 'EncodingError' ? 'NOT_ENCODABLE' : 'ORACLE_FAILED', e.message)
  } finally {
    if (timer) clearTimeout(timer)
  }
}

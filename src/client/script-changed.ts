/**
 * A SCRIPT_CHANGED refusal, as a client reads it: the host names the version
 * in force in the error's remote message ("<hash hex> <version> <methods,…>"),
 * and the client says what was added and removed against the version its
 * call was pinned to. (The host's word: a refusal it can always make.)
 */
import b4a from 'b4a'
import type { VmsError } from '../errors.js'

export interface ScriptInForce { version: number; hash: Uint8Array; methods: string[] }
export interface ScriptChange extends ScriptInForce { added: string[]; removed: string[] }

/** The version in force the refusal names, or null if it names none. */
export function scriptInForce(err: VmsError): ScriptInForce | null {
  const [hash, version, methods] = (err.remote?.message ?? '').split(' ')
  if (!hash || !/^[0-9a-f]{64}$/.test(hash) || !version || !/^\d+$/.test(version)) return null
  return { version: Number(version), hash: b4a.from(hash, 'hex'), methods: methods ? methods.split(',').filter(Boolean) : [] }
}

/** `err` with `err.script` = the version in force and the methods added and removed since `pinnedMethods`. */
export function withScriptChange(err: VmsError, now: ScriptInForce, pinnedMethods: string[]): VmsError & { script: ScriptChange } {
  return Object.assign(err, { script: { ...now, added: now.methods.filter((m) => !pinnedMethods.includes(m)), removed: pinnedMethods.filter((m) => !now.methods.includes(m)) } })
}

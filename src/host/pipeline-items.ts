/**
 * What moves through a host's pipeline: a call admitted (or a load of the
 * script), its result from the sandbox, and then its log entry and outcome.
 */
import { EntryType, type LoadReason, type FilesState, type LogEntry, type Outcome, type SignedCall, type SignedUpgrade, type Receipt } from '../messages/index.js'
import type { ScriptVersion } from './script-version.js'
import type { VmsErrorCode } from '../errors.js'
import type { RunResult } from '../sandbox/protocol.js'

export interface CallAnswer {
  /** The method's return value (a JSON value, or undefined). */
  result: unknown
  /** The canonical JSON bytes of the result, as logged. */
  value: Uint8Array
  receipt: Receipt
}

export interface CallItem {
  kind: 'call'
  call: SignedCall
  argsText: string
  callerId: string
  time: number
  seed: Uint8Array
  suspect: boolean
  /** 0 while the signature is being checked, 1 valid, -1 invalid. */
  verified: 0 | 1 | -1
  result: RunResult | null
  resolve(a: CallAnswer): void
  reject(e: Error): void
}

export interface LoadItem {
  kind: 'load'
  reason: LoadReason
  note: string
  time: number
  seed: Uint8Array
  result: RunResult
}

/** What an owner's upgrade is answered with, once its entry is on disk. */
export interface UpgradeAnswer {
  /** The new script version, and its hash. */
  version: number
  hash: Buffer
  /** The upgrade entry's index, and its receipt (signed by the log, as a call's). */
  index: number
  receipt: Receipt
  /** Methods the new script has that the old one did not, and the other way round. */
  added: string[]
  removed: string[]
}

/**
 * An owner's upgrade, admitted (governance, signature, nonce checked) and
 * queued among the calls: calls before it run on the old script, calls after
 * it on the new one. Once its load ran (init, migrate) it commits like a load.
 */
export interface UpgradeItem {
  kind: 'upgrade'
  request: SignedUpgrade
  /** 0 while the owner's signature is being checked, 1 valid, -1 invalid. */
  verified: 0 | 1 | -1
  /** The script replaced, and the one it becomes (its index is the entry's, set when laid out). */
  from: ScriptVersion | null
  to: ScriptVersion | null
  added: string[]
  removed: string[]
  time: number
  seed: Uint8Array
  result: RunResult | null
  resolve(a: UpgradeAnswer): void
  reject(e: Error): void
}

export type Item = CallItem | LoadItem | UpgradeItem

const utf8 = new TextEncoder()
const EMPTY = new Uint8Array(0)

/** The log entry of a call, a load or an upgrade, with the files state after it. */
export function entryOf(it: Item, files: FilesState): LogEntry {
  if (it.kind === 'upgrade') {
    const u = it.request
    return {
      type: EntryType.UPGRADE, version: it.to!.version, previous: it.from!.index, owner: u.owner, signature: u.signature, nonce: u.nonce,
      filename: u.filename, script: u.script, time: it.time, seed: it.seed, outcome: toOutcome(it.result!), files
    }
  }
  return it.kind === 'call'
    ? {
        type: EntryType.CALL, publicKey: it.call.publicKey, signature: it.call.signature, ...(it.call.scriptHash ? { scriptHash: it.call.scriptHash } : {}), method: it.call.method,
        args: it.call.args, nonce: it.call.nonce, time: it.time, seed: it.seed,
        oracles: it.result!.oracles.map((o) => ({ name: o.name, input: utf8.encode(o.input), output: utf8.encode(o.output) })),
        outcome: toOutcome(it.result!), files
      }
    : { type: EntryType.LOAD, reason: it.reason, time: it.time, seed: it.seed, note: it.note, outcome: toOutcome(it.result), files }
}

function toOutcome(r: RunResult): Outcome {
  return r.ok
    ? { ok: true, limit: false, value: utf8.encode(r.value), error: null }
    : { ok: false, limit: r.limit, value: EMPTY, error: r.error }
}

export function limitCode(code: string): VmsErrorCode {
  switch (code) {
    case 'TIMEOUT': return 'TIMEOUT'
    case 'MEMORY_LIMIT': return 'MEMORY_LIMIT'
    case 'STACK_OVERFLOW': return 'STACK_OVERFLOW'
    default: return 'SANDBOX_CRASHED'
  }
}

/**
 * What a storage error says, with the causes under it (RocksDB's "Batch was
 * not applied" wraps the I/O error), and a hint when the disk is full.
 */
export function storageReason(err: Error): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = (e as Error & { cause?: unknown }).cause) {
    if (!parts.includes(e.message)) parts.push(e.message)
  }
  const text = parts.join(': ')
  return /ENOSPC|No space left/i.test(text) ? `${text}; the disk is full: free some space` : text
}

/**
 * Every log and wire format of vms-node, as compact-encoding codecs.
 *
 * A log entry starts with the format version (uint) and the entry type
 * (uint). Decoders refuse unknown versions and trailing bytes, so one
 * entry has exactly one encoding: a replay can compare bytes.
 */
import c, { type Encoding, type State } from 'compact-encoding'
import crypto from 'hypercore-crypto'
import { VmsError } from '../errors.js'
import b4a from 'b4a'

/**
 * Log entries start with their format version. Version 1: genesis, load and
 * call entries as first made. Version 2: a genesis with its governance, a call
 * pinned to a script version, and upgrade entries. An entry is written in the
 * lowest version that holds it, so a log of VMs made before keeps its bytes.
 */
export const LOG_VERSION = 2
/**
 * Version of the script-visible API (`System`, determinism rules), recorded
 * in the genesis: a VM keeps the semantics it was made with, and a replay
 * applies that version's. New VMs get the newest.
 * - 1: `System.files.readFile(path)` gives bytes; getInfo() is { key, version }.
 * - 2: `System.files` follows the DatArchive API that NodeVMS scripts were
 *   written against: readFile gives a utf8 string by default, base64, readdir
 *   { recursive, stat }, rmdir { recursive }, DatArchive's stat() and getInfo().
 */
export const SANDBOX_API_VERSION = 2
/** Every version this code can run and replay. */
export const SANDBOX_API_VERSIONS: readonly number[] = [1, 2]

export const NONCE_BYTES = 16
export const SEED_BYTES = 16

const [NS_CALL] = crypto.namespace('vms-node', 1) as [Buffer]
const [NS_PINNED_CALL, NS_UPGRADE] = crypto.namespace('vms-node/pinned', 2) as [Buffer, Buffer]

export enum EntryType { GENESIS = 0, LOAD = 1, CALL = 2, UPGRADE = 3 }
export enum LoadReason { CREATE = 0, RESTART = 1, RECYCLE = 2, WAKE = 3 }

export interface Limits {
  /** Wall-clock limit of one call (and of `init`), in ms. */
  timeoutMs: number
  /** Heap limit of the sandbox isolate, in MB. */
  memoryMb: number
  /** Largest canonical args encoding accepted, in bytes. */
  maxArgsBytes: number
  /** Largest canonical result encoding accepted, in bytes. */
  maxResultBytes: number
  /** Largest file a call may write, in bytes. */
  maxFileBytes: number
  /** A nonce is accepted if issued at most this long before the call's logged time, in ms. */
  nonceWindowMs: number
  /** ... and at most this far after it (clock skew), in ms. */
  nonceSkewMs: number
}

/**
 * Who may replace a VM's script, fixed in the genesis: nobody (immutable), or
 * any one of these owner keys (callers' ed25519 public keys).
 */
export interface Governance { owners: Uint8Array[] }

export interface Genesis {
  type: EntryType.GENESIS
  /** Absent in a genesis of format version 1 (VMs made before upgrades existed): immutable. */
  governance?: Governance
  apiVersion: number
  filename: string
  script: string
  filesKey: Uint8Array
  limits: Limits
  oracles: string[]
  time: number
  /** The files archive as the VM starts (an empty hyperdrive). */
  files: FilesState
}

export interface CallError { name: string; message: string; code: string }

export interface Outcome {
  ok: boolean
  /** The call hit a limit (time, memory, crash): not reproducible, not replayed. */
  limit: boolean
  /** Canonical JSON of the result; empty = undefined. Only when ok. */
  value: Uint8Array
  error: CallError | null
}

export interface FilesState {
  dbLength: number
  dbTreeHash: Uint8Array
  blobsLength: number
  blobsTreeHash: Uint8Array
}

/** Two files states are the same: both lengths and both tree hashes. */
export function sameFilesState(a: FilesState, b: FilesState): boolean {
  return a.dbLength === b.dbLength && a.blobsLength === b.blobsLength &&
    b4a.equals(a.dbTreeHash, b.dbTreeHash) && b4a.equals(a.blobsTreeHash, b.blobsTreeHash)
}

export interface OracleRecord { name: string; input: Uint8Array; output: Uint8Array }

export interface LoadEntry {
  type: EntryType.LOAD
  reason: LoadReason
  time: number
  seed: Uint8Array
  note: string
  outcome: Outcome
  files: FilesState
}

export interface SignedCall {
  vmKey: Uint8Array
  method: string
  args: Uint8Array
  nonce: Uint8Array
  publicKey: Uint8Array
  signature: Uint8Array
  /** The script version (its hash) the caller signed for: the host runs it on that version or refuses it. */
  scriptHash?: Uint8Array
}

export interface CallEntry {
  type: EntryType.CALL
  publicKey: Uint8Array
  signature: Uint8Array
  /** The script version the call was signed for (a pinned call). */
  scriptHash?: Uint8Array
  method: string
  args: Uint8Array
  nonce: Uint8Array
  time: number
  seed: Uint8Array
  oracles: OracleRecord[]
  outcome: Outcome
  files: FilesState
}

/**
 * An owner replaced the script: the new source, the owner's signature over
 * (VM key, the source's hash, nonce), and the load of the new script that
 * follows at once (its `init`, then `migrate(fromVersion)` if it exports it),
 * with that load's outcome and files state. A checkpoint, like a load entry.
 */
export interface UpgradeEntry {
  type: EntryType.UPGRADE
  /** The script version this makes (the genesis' is 1). */
  version: number
  /** The entry of the upgrade before this one (0: the genesis). */
  previous: number
  owner: Uint8Array
  signature: Uint8Array
  nonce: Uint8Array
  filename: string
  script: string
  time: number
  seed: Uint8Array
  outcome: Outcome
  files: FilesState
}

export type LogEntry = Genesis | LoadEntry | CallEntry | UpgradeEntry

/** An owner's signed request to replace a VM's script. */
export interface SignedUpgrade {
  vmKey: Uint8Array
  script: string
  filename: string
  nonce: Uint8Array
  owner: Uint8Array
  signature: Uint8Array
}

/** An upgrade as it travels (to a host). */
export const signedUpgrade: Encoding<SignedUpgrade> = {
  preencode(s, m) {
    c.uint.preencode(s, 1); c.fixed32.preencode(s, m.vmKey); c.string.preencode(s, m.script); c.string.preencode(s, m.filename)
    nonce.preencode(s, m.nonce); c.fixed32.preencode(s, m.owner); c.fixed64.preencode(s, m.signature)
  },
  encode(s, m) {
    c.uint.encode(s, 1); c.fixed32.encode(s, m.vmKey); c.string.encode(s, m.script); c.string.encode(s, m.filename)
    nonce.encode(s, m.nonce); c.fixed32.encode(s, m.owner); c.fixed64.encode(s, m.signature)
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1) throw new Error(`unknown signed upgrade version ${v}`)
    return { vmKey: c.fixed32.decode(s), script: c.string.decode(s), filename: c.string.decode(s), nonce: nonce.decode(s), owner: c.fixed32.decode(s), signature: c.fixed64.decode(s) }
  }
}

/** A script version's identity: the BLAKE2b-256 hash of its source (UTF-8). */
export function scriptHash(script: string): Buffer {
  return crypto.hash(b4a.from(script, 'utf8'))
}

export interface RootNode { index: number; size: number; hash: Uint8Array }

/** What the host hands back with a result: enough to prove later what it committed to. */
export interface Receipt {
  /** Index of the call's entry in the log. */
  index: number
  fork: number
  /** The log's signer public key; the VM key is derived from it. */
  signer: Uint8Array
  /** Merkle roots of the log at length `index` (before the entry). */
  roots: RootNode[]
  /**
   * The subtrees of the entries after this one up to the length the
   * signature covers, left to right (empty when it covers `index + 1`).
   */
  after: RootNode[]
  /**
   * The log's own signature (the one hypercore makes at each append) over
   * its tree hash at length `index + 1 + (leaves under after)`: the end of
   * the group of calls this one was committed with.
   */
  signature: Uint8Array
  /** The encoded log entry. */
  entry: Uint8Array
}

const nonce = c.fixed(NONCE_BYTES)
const seed = c.fixed(SEED_BYTES)

const limits: Encoding<Limits> = {
  preencode(s, m) {
    c.uint.preencode(s, m.timeoutMs); c.uint.preencode(s, m.memoryMb)
    c.uint.preencode(s, m.maxArgsBytes); c.uint.preencode(s, m.maxResultBytes)
    c.uint.preencode(s, m.maxFileBytes)
    c.uint.preencode(s, m.nonceWindowMs); c.uint.preencode(s, m.nonceSkewMs)
  },
  encode(s, m) {
    c.uint.encode(s, m.timeoutMs); c.uint.encode(s, m.memoryMb)
    c.uint.encode(s, m.maxArgsBytes); c.uint.encode(s, m.maxResultBytes)
    c.uint.encode(s, m.maxFileBytes)
    c.uint.encode(s, m.nonceWindowMs); c.uint.encode(s, m.nonceSkewMs)
  },
  decode(s) {
    return {
      timeoutMs: c.uint.decode(s), memoryMb: c.uint.decode(s),
      maxArgsBytes: c.uint.decode(s), maxResultBytes: c.uint.decode(s),
      maxFileBytes: c.uint.decode(s),
      nonceWindowMs: c.uint.decode(s), nonceSkewMs: c.uint.decode(s)
    }
  }
}

export const callError: Encoding<CallError> = {
  preencode(s, m) { c.string.preencode(s, m.name); c.string.preencode(s, m.message); c.string.preencode(s, m.code) },
  encode(s, m) { c.string.encode(s, m.name); c.string.encode(s, m.message); c.string.encode(s, m.code) },
  decode(s) { return { name: c.string.decode(s), message: c.string.decode(s), code: c.string.decode(s) } }
}

const outcome: Encoding<Outcome> = {
  preencode(s, m) {
    c.uint.preencode(s, 0)
    if (m.ok) c.buffer.preencode(s, m.value)
    else callError.preencode(s, m.error!)
  },
  encode(s, m) {
    c.uint.encode(s, (m.ok ? 1 : 0) | (m.limit ? 2 : 0))
    if (m.ok) c.buffer.encode(s, m.value)
    else callError.encode(s, m.error!)
  },
  decode(s) {
    const flags = c.uint.decode(s)
    const ok = (flags & 1) !== 0
    if (flags > 3 || (ok && (flags & 2))) throw new Error('bad outcome flags')
    if (ok) return { ok, limit: false, value: c.buffer.decode(s) ?? new Uint8Array(0), error: null }
    return { ok, limit: (flags & 2) !== 0, value: new Uint8Array(0), error: callError.decode(s) }
  }
}

const filesState: Encoding<FilesState> = {
  preencode(s, m) { c.uint.preencode(s, m.dbLength); c.fixed32.preencode(s, m.dbTreeHash); c.uint.preencode(s, m.blobsLength); c.fixed32.preencode(s, m.blobsTreeHash) },
  encode(s, m) { c.uint.encode(s, m.dbLength); c.fixed32.encode(s, m.dbTreeHash); c.uint.encode(s, m.blobsLength); c.fixed32.encode(s, m.blobsTreeHash) },
  decode(s) { return { dbLength: c.uint.decode(s), dbTreeHash: c.fixed32.decode(s), blobsLength: c.uint.decode(s), blobsTreeHash: c.fixed32.decode(s) } }
}

const oracleRecord: Encoding<OracleRecord> = {
  preencode(s, m) { c.string.preencode(s, m.name); c.buffer.preencode(s, m.input); c.buffer.preencode(s, m.output) },
  encode(s, m) { c.string.encode(s, m.name); c.buffer.encode(s, m.input); c.buffer.encode(s, m.output) },
  decode(s) { return { name: c.string.decode(s), input: c.buffer.decode(s) ?? new Uint8Array(0), output: c.buffer.decode(s) ?? new Uint8Array(0) } }
}
const oracleRecords = c.array(oracleRecord)
export const strings = c.array(c.string)

/** A byte string; empty decodes as an empty array (compact-encoding gives null). */
export function bytes(s: State): Uint8Array { return c.buffer.decode(s) ?? new Uint8Array(0) }

const keys = c.array(c.fixed32)

/** The lowest format version that holds an entry (see LOG_VERSION). */
function versionOf(m: LogEntry): number {
  if (m.type === EntryType.UPGRADE) return 2
  if (m.type === EntryType.GENESIS) return m.governance ? 2 : 1
  if (m.type === EntryType.CALL) return m.scriptHash ? 2 : 1
  return 1
}

export const logEntry: Encoding<LogEntry> = {
  preencode(s, m) {
    const v = versionOf(m)
    c.uint.preencode(s, v)
    c.uint.preencode(s, m.type)
    switch (m.type) {
      case EntryType.GENESIS:
        if (v === 2) keys.preencode(s, m.governance!.owners)
        c.uint.preencode(s, m.apiVersion); c.string.preencode(s, m.filename); c.string.preencode(s, m.script)
        c.fixed32.preencode(s, m.filesKey); limits.preencode(s, m.limits); strings.preencode(s, m.oracles)
        c.uint.preencode(s, m.time); filesState.preencode(s, m.files)
        break
      case EntryType.LOAD:
        c.uint.preencode(s, m.reason); c.uint.preencode(s, m.time); seed.preencode(s, m.seed)
        c.string.preencode(s, m.note); outcome.preencode(s, m.outcome); filesState.preencode(s, m.files)
        break
      case EntryType.CALL:
        c.fixed32.preencode(s, m.publicKey); c.fixed64.preencode(s, m.signature); if (v === 2) c.fixed32.preencode(s, m.scriptHash!)
        c.string.preencode(s, m.method); c.buffer.preencode(s, m.args); nonce.preencode(s, m.nonce); c.uint.preencode(s, m.time); seed.preencode(s, m.seed)
        oracleRecords.preencode(s, m.oracles); outcome.preencode(s, m.outcome); filesState.preencode(s, m.files)
        break
      case EntryType.UPGRADE:
        c.uint.preencode(s, m.version); c.uint.preencode(s, m.previous); c.fixed32.preencode(s, m.owner); c.fixed64.preencode(s, m.signature)
        nonce.preencode(s, m.nonce); c.string.preencode(s, m.filename); c.string.preencode(s, m.script); c.uint.preencode(s, m.time)
        seed.preencode(s, m.seed); outcome.preencode(s, m.outcome); filesState.preencode(s, m.files)
        break
    }
  },
  encode(s, m) {
    const v = versionOf(m)
    c.uint.encode(s, v)
    c.uint.encode(s, m.type)
    switch (m.type) {
      case EntryType.GENESIS:
        if (v === 2) keys.encode(s, m.governance!.owners)
        c.uint.encode(s, m.apiVersion); c.string.encode(s, m.filename); c.string.encode(s, m.script)
        c.fixed32.encode(s, m.filesKey); limits.encode(s, m.limits); strings.encode(s, m.oracles)
        c.uint.encode(s, m.time); filesState.encode(s, m.files)
        break
      case EntryType.LOAD:
        c.uint.encode(s, m.reason); c.uint.encode(s, m.time); seed.encode(s, m.seed)
        c.string.encode(s, m.note); outcome.encode(s, m.outcome); filesState.encode(s, m.files)
        break
      case EntryType.CALL:
        c.fixed32.encode(s, m.publicKey); c.fixed64.encode(s, m.signature); if (v === 2) c.fixed32.encode(s, m.scriptHash!)
        c.string.encode(s, m.method); c.buffer.encode(s, m.args); nonce.encode(s, m.nonce); c.uint.encode(s, m.time); seed.encode(s, m.seed)
        oracleRecords.encode(s, m.oracles); outcome.encode(s, m.outcome); filesState.encode(s, m.files)
        break
      case EntryType.UPGRADE:
        c.uint.encode(s, m.version); c.uint.encode(s, m.previous); c.fixed32.encode(s, m.owner); c.fixed64.encode(s, m.signature)
        nonce.encode(s, m.nonce); c.string.encode(s, m.filename); c.string.encode(s, m.script); c.uint.encode(s, m.time)
        seed.encode(s, m.seed); outcome.encode(s, m.outcome); filesState.encode(s, m.files)
        break
    }
  },
  decode(s) {
    const version = c.uint.decode(s)
    if (version !== 1 && version !== 2) throw new Error(`unknown log format version ${version}`)
    const type = c.uint.decode(s)
    switch (type) {
      case EntryType.GENESIS: {
        const governance = version === 2 ? { owners: keys.decode(s) } : undefined
        return {
          type, ...(governance ? { governance } : {}), apiVersion: c.uint.decode(s), filename: c.string.decode(s), script: c.string.decode(s),
          filesKey: c.fixed32.decode(s), limits: limits.decode(s), oracles: strings.decode(s), time: c.uint.decode(s),
          files: filesState.decode(s)
        }
      }
      case EntryType.LOAD:
        if (version !== 1) throw new Error(`a load entry has no format version ${version}`)
        return {
          type, reason: c.uint.decode(s), time: c.uint.decode(s), seed: seed.decode(s),
          note: c.string.decode(s), outcome: outcome.decode(s), files: filesState.decode(s)
        }
      case EntryType.CALL: {
        const publicKey = c.fixed32.decode(s)
        const signature = c.fixed64.decode(s)
        const pinned = version === 2 ? { scriptHash: c.fixed32.decode(s) } : {}
        return {
          type, publicKey, signature, ...pinned, method: c.string.decode(s),
          args: bytes(s), nonce: nonce.decode(s), time: c.uint.decode(s), seed: seed.decode(s),
          oracles: oracleRecords.decode(s), outcome: outcome.decode(s), files: filesState.decode(s)
        }
      }
      case EntryType.UPGRADE:
        if (version !== 2) throw new Error(`an upgrade entry has no format version ${version}`)
        return {
          type, version: c.uint.decode(s), previous: c.uint.decode(s), owner: c.fixed32.decode(s), signature: c.fixed64.decode(s),
          nonce: nonce.decode(s), filename: c.string.decode(s), script: c.string.decode(s), time: c.uint.decode(s),
          seed: seed.decode(s), outcome: outcome.decode(s), files: filesState.decode(s)
        }
      default:
        throw new Error(`unknown entry type ${type}`)
    }
  }
}

const rootNode: Encoding<RootNode> = {
  preencode(s, m) { c.uint.preencode(s, m.index); c.uint.preencode(s, m.size); c.fixed32.preencode(s, m.hash) },
  encode(s, m) { c.uint.encode(s, m.index); c.uint.encode(s, m.size); c.fixed32.encode(s, m.hash) },
  decode(s) { return { index: c.uint.decode(s), size: c.uint.decode(s), hash: c.fixed32.decode(s) } }
}
export const rootNodes = c.array(rootNode)

/**
 * Version 2 adds `after`, for receipts signed past their entry (at the end of
 * their commit group); a receipt signed at `index + 1` has none and is encoded
 * as version 1, as before.
 */
export const receipt: Encoding<Receipt> = {
  preencode(s, m) {
    const v = m.after.length > 0 ? 2 : 1
    c.uint.preencode(s, v); c.uint.preencode(s, m.index); c.uint.preencode(s, m.fork); c.fixed32.preencode(s, m.signer)
    rootNodes.preencode(s, m.roots); if (v === 2) rootNodes.preencode(s, m.after)
    c.fixed64.preencode(s, m.signature); c.buffer.preencode(s, m.entry)
  },
  encode(s, m) {
    const v = m.after.length > 0 ? 2 : 1
    c.uint.encode(s, v); c.uint.encode(s, m.index); c.uint.encode(s, m.fork); c.fixed32.encode(s, m.signer)
    rootNodes.encode(s, m.roots); if (v === 2) rootNodes.encode(s, m.after)
    c.fixed64.encode(s, m.signature); c.buffer.encode(s, m.entry)
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1 && v !== 2) throw new Error(`unknown receipt version ${v}`)
    return {
      index: c.uint.decode(s), fork: c.uint.decode(s), signer: c.fixed32.decode(s),
      roots: rootNodes.decode(s), after: v === 2 ? rootNodes.decode(s) : [], signature: c.fixed64.decode(s), entry: bytes(s)
    }
  }
}

/** A signed call as it travels (to a host, in a request); version 2 is a pinned call. */
export const signedCall: Encoding<SignedCall> = {
  preencode(s, m) {
    c.uint.preencode(s, m.scriptHash ? 2 : 1); c.fixed32.preencode(s, m.vmKey); c.string.preencode(s, m.method); c.buffer.preencode(s, m.args)
    nonce.preencode(s, m.nonce); c.fixed32.preencode(s, m.publicKey); c.fixed64.preencode(s, m.signature)
    if (m.scriptHash) c.fixed32.preencode(s, m.scriptHash)
  },
  encode(s, m) {
    c.uint.encode(s, m.scriptHash ? 2 : 1); c.fixed32.encode(s, m.vmKey); c.string.encode(s, m.method); c.buffer.encode(s, m.args)
    nonce.encode(s, m.nonce); c.fixed32.encode(s, m.publicKey); c.fixed64.encode(s, m.signature)
    if (m.scriptHash) c.fixed32.encode(s, m.scriptHash)
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1 && v !== 2) throw new Error(`unknown signed call version ${v}`)
    const call: SignedCall = {
      vmKey: c.fixed32.decode(s), method: c.string.decode(s), args: bytes(s),
      nonce: nonce.decode(s), publicKey: c.fixed32.decode(s), signature: c.fixed64.decode(s)
    }
    if (v === 2) call.scriptHash = c.fixed32.decode(s)
    return call
  }
}

/**
 * The bytes a caller signs: a namespace, then VM key, method, args and nonce;
 * a pinned call (another namespace) adds the script version's hash.
 */
export function callSignable(vmKey: Uint8Array, method: string, args: Uint8Array, n: Uint8Array, pin?: Uint8Array): Buffer {
  const s = c.state()
  s.end += 32
  c.fixed32.preencode(s, vmKey); c.string.preencode(s, method); c.buffer.preencode(s, args); nonce.preencode(s, n)
  if (pin) c.fixed32.preencode(s, pin)
  s.buffer = b4a.allocUnsafe(s.end)
  s.buffer.set(pin ? NS_PINNED_CALL : NS_CALL, 0)
  s.start = 32
  c.fixed32.encode(s, vmKey); c.string.encode(s, method); c.buffer.encode(s, args); nonce.encode(s, n)
  if (pin) c.fixed32.encode(s, pin)
  return s.buffer as Buffer
}

/**
 * The bytes an owner signs to upgrade a VM: a namespace, the VM key, the new
 * script's hash, a nonce, then the script's file name (utf8, to the end: what
 * `info` and `getInfo().title` show is the owner's word, not the host's).
 */
export function upgradeSignable(vmKey: Uint8Array, hash: Uint8Array, n: Uint8Array, filename: string): Buffer {
  return b4a.concat([NS_UPGRADE, vmKey, hash, n, b4a.from(filename, 'utf8')])
}

/** Strict decode: unknown versions, unknown types and trailing bytes are MALFORMED_ENTRY. */
export function decodeStrict<T>(enc: Encoding<T>, buf: Uint8Array, what: string): T {
  const s = c.state(0, buf.byteLength, buf)
  let value: T
  try {
    value = enc.decode(s)
  } catch (err) {
    throw new VmsError('MALFORMED_ENTRY', `${what} does not decode: ${(err as Error).message}`)
  }
  if (s.start !== s.end) throw new VmsError('MALFORMED_ENTRY', `${what} has ${s.end - s.start} trailing bytes`)
  // One value, one encoding: padded integers or invalid UTF-8 decode, but are not canonical.
  if (!b4a.equals(c.encode(enc, value), buf)) throw new VmsError('MALFORMED_ENTRY', `${what} is not in canonical form`)
  return value
}

export function encode<T>(enc: Encoding<T>, value: T): Buffer {
  return c.encode(enc, value)
}

export function decodeEntry(buf: Uint8Array, index = -1): LogEntry {
  return decodeStrict(logEntry, buf, index >= 0 ? `log entry ${index}` : 'log entry')
}

/**
 * The redo record (local, never replicated): what a group of calls commits,
 * written before any of it is appended, so that a crash between the appends
 * is finished at restart (see host/redo-journal.ts). Version 2 also holds the
 * log entries not yet known appended (this group's and any earlier group's
 * still in flight), so the files a host signed are always accounted for by
 * its log: a restart appends what the log lacks, and never takes back files.
 * Version 1 (vms-node before 0.2) held the files blocks only.
 */
export interface RedoRecord {
  /** Lengths of the hyperbee and blobs cores before this group. */
  dbStart: number
  blobsStart: number
  dbBlocks: Uint8Array[]
  blobBlocks: Uint8Array[]
  /** Version 2: the record's number (the journal keeps the two latest, in turn); 0 in a version-1 record. */
  seq?: number
  /** Version 2: the log length before `logBlocks`. */
  logStart?: number
  /** Version 2: the log's tree hash at `logStart`: the entries are appended only to the log they were laid out after. */
  logStartHash?: Uint8Array
  /** Version 2: the encoded log entries from `logStart` on that were not known appended when this was written. */
  logBlocks?: Uint8Array[]
}

const blockList = c.array<Uint8Array>({ preencode: (s, b) => c.buffer.preencode(s, b), encode: (s, b) => c.buffer.encode(s, b), decode: bytes })
const ZERO32 = new Uint8Array(32)

export const redoRecord: Encoding<RedoRecord> = {
  // A record with no log entries field is version 1 (as read from an earlier vms-node's journal).
  preencode(s, m) {
    const v = m.logBlocks === undefined ? 1 : 2
    c.uint.preencode(s, v); c.uint.preencode(s, m.dbStart); c.uint.preencode(s, m.blobsStart)
    blockList.preencode(s, m.dbBlocks); blockList.preencode(s, m.blobBlocks)
    if (v === 2) { c.uint.preencode(s, m.seq ?? 0); c.uint.preencode(s, m.logStart ?? 0); c.fixed32.preencode(s, m.logStartHash ?? ZERO32); blockList.preencode(s, m.logBlocks!) }
  },
  encode(s, m) {
    const v = m.logBlocks === undefined ? 1 : 2
    c.uint.encode(s, v); c.uint.encode(s, m.dbStart); c.uint.encode(s, m.blobsStart)
    blockList.encode(s, m.dbBlocks); blockList.encode(s, m.blobBlocks)
    if (v === 2) { c.uint.encode(s, m.seq ?? 0); c.uint.encode(s, m.logStart ?? 0); c.fixed32.encode(s, m.logStartHash ?? ZERO32); blockList.encode(s, m.logBlocks!) }
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1 && v !== 2) throw new Error(`unknown redo record version ${v}`)
    const files = { dbStart: c.uint.decode(s), blobsStart: c.uint.decode(s), dbBlocks: blockList.decode(s), blobBlocks: blockList.decode(s) }
    if (v === 1) return files
    return { ...files, seq: c.uint.decode(s), logStart: c.uint.decode(s), logStartHash: c.fixed32.decode(s), logBlocks: blockList.decode(s) }
  }
}

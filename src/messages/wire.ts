/**
 * The wire: one protomux channel per VM per connection (protocol
 * `vms-node/1`, id = the VM key). Each side opens with a Hello; a host's
 * Hello proves it holds the log's secret key by signing the connection's
 * handshake hash. Then requests and responses, matched by id.
 */
import c, { type Encoding, type State } from 'compact-encoding'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import { receipt, signedCall, signedUpgrade, callError, strings, bytes, type Receipt, type SignedCall, type SignedUpgrade } from './index.js'
import { VmsError, type VmsErrorCode } from '../errors.js'

export const PROTOCOL = 'vms-node/1'
const [NS_PROOF, NS_ATTEST] = crypto.namespace('vms-node/wire', 2) as [Buffer, Buffer]

export enum Role { CLIENT = 0, HOST = 1, MIRROR = 2 }

export interface VmInfo {
  methods: string[]
  /** Methods the script marks as views: run read-only, never logged. */
  views: string[]
  filesKey: Uint8Array
  /** Log length when the hello was sent. */
  length: number
  /** Declared oracle names; none = trustless. */
  oracles: string[]
  /** The script version in force as the peer holds it: its number, hash, and the entry that made it (0: the genesis). */
  script?: { version: number; hash: Uint8Array; at: number }
}

export interface Hello {
  role: Role
  /** Host only: the log's signer key and its signature over the handshake hash. */
  signer: Uint8Array | null
  proof: Uint8Array | null
  info: VmInfo | null
}

export interface Request { id: number; call: SignedCall }

export interface WireError { code: string; message: string; remote: { name: string; message: string; code: string } | null }

/** An error as it crosses the wire: a VmsError keeps its code; anything else is INTERNAL. */
export function toWireError(err: unknown): WireError {
  if (err instanceof VmsError) return { code: err.code, message: err.message, remote: err.remote }
  return { code: 'INTERNAL', message: `INTERNAL: ${(err as Error)?.message ?? String(err)}`, remote: null }
}

/** The VmsError a peer sent (its message without the code prefix it carries). */
export function fromWireError(e: WireError): VmsError {
  return new VmsError(e.code as VmsErrorCode, e.message.replace(/^[A-Z_]+: /, ''), e.remote)
}

/**
 * An error's fields in an answer: code, message and — where the answer's
 * flags say so (`withRemote`, for calls and views) — the script's own error.
 */
export function preencodeError(s: State, e: WireError, withRemote: boolean): void {
  c.string.preencode(s, e.code); c.string.preencode(s, e.message); if (withRemote && e.remote) callError.preencode(s, e.remote)
}
export function encodeError(s: State, e: WireError, withRemote: boolean): void {
  c.string.encode(s, e.code); c.string.encode(s, e.message); if (withRemote && e.remote) callError.encode(s, e.remote)
}
export function decodeError(s: State, withRemote: boolean): WireError {
  const code = c.string.decode(s)
  const message = c.string.decode(s)
  return { code, message, remote: withRemote ? callError.decode(s) : null }
}

export interface Response {
  id: number
  error: WireError | null
  /** Canonical JSON of the result (ok only). */
  value: Uint8Array
  receipt: Receipt | null
}

export const vmInfo: Encoding<VmInfo> = {
  preencode(s, m) { strings.preencode(s, m.methods); strings.preencode(s, m.views); c.fixed32.preencode(s, m.filesKey); c.uint.preencode(s, m.length); strings.preencode(s, m.oracles) },
  encode(s, m) { strings.encode(s, m.methods); strings.encode(s, m.views); c.fixed32.encode(s, m.filesKey); c.uint.encode(s, m.length); strings.encode(s, m.oracles) },
  decode(s) { return { methods: strings.decode(s), views: strings.decode(s), filesKey: c.fixed32.decode(s), length: c.uint.decode(s), oracles: strings.decode(s) } }
}

/** Flags of a hello: 1 the host's proof, 2 the VM's info, 4 (with 2) the script version in force. */
export const hello: Encoding<Hello> = {
  preencode(s, m) {
    c.uint.preencode(s, 1); c.uint.preencode(s, m.role); c.uint.preencode(s, 0)
    if (m.signer && m.proof) { c.fixed32.preencode(s, m.signer); c.fixed64.preencode(s, m.proof) }
    if (m.info) vmInfo.preencode(s, m.info)
    if (m.info?.script) { c.uint.preencode(s, m.info.script.version); c.fixed32.preencode(s, m.info.script.hash); c.uint.preencode(s, m.info.script.at) }
  },
  encode(s, m) {
    c.uint.encode(s, 1); c.uint.encode(s, m.role)
    c.uint.encode(s, (m.signer && m.proof ? 1 : 0) | (m.info ? 2 : 0) | (m.info?.script ? 4 : 0))
    if (m.signer && m.proof) { c.fixed32.encode(s, m.signer); c.fixed64.encode(s, m.proof) }
    if (m.info) vmInfo.encode(s, m.info)
    if (m.info?.script) { c.uint.encode(s, m.info.script.version); c.fixed32.encode(s, m.info.script.hash); c.uint.encode(s, m.info.script.at) }
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1) throw new Error(`unknown hello version ${v}`)
    const role = c.uint.decode(s)
    const flags = c.uint.decode(s)
    if (flags > 7 || ((flags & 4) && !(flags & 2))) throw new Error('bad hello flags')
    const signer = flags & 1 ? c.fixed32.decode(s) : null
    const proof = flags & 1 ? c.fixed64.decode(s) : null
    const info = flags & 2 ? vmInfo.decode(s) : null
    if (info && flags & 4) info.script = { version: c.uint.decode(s), hash: c.fixed32.decode(s), at: c.uint.decode(s) }
    return { role, signer, proof, info }
  }
}

/** Message 12: an owner's upgrade (to the host). */
export interface UpgradeRequest { id: number; upgrade: SignedUpgrade }
/** Message 13: the upgrade's answer: the new version, its entry's receipt, the methods added and removed; or why not. */
export interface UpgradeResponse { id: number; error: WireError | null; version: number; receipt: Receipt | null; added: string[]; removed: string[] }

export const upgradeRequest: Encoding<UpgradeRequest> = {
  preencode(s, m) { c.uint.preencode(s, m.id); signedUpgrade.preencode(s, m.upgrade) },
  encode(s, m) { c.uint.encode(s, m.id); signedUpgrade.encode(s, m.upgrade) },
  decode(s) { return { id: c.uint.decode(s), upgrade: signedUpgrade.decode(s) } }
}

/** Flags: 1 an error (then 2: with the receipt of an upgrade that is logged all the same, say DURABILITY_TIMEOUT). */
export const upgradeResponse: Encoding<UpgradeResponse> = {
  preencode(s, m) {
    c.uint.preencode(s, m.id); c.uint.preencode(s, 0)
    if (m.error) { preencodeError(s, m.error, false); if (m.receipt) receipt.preencode(s, m.receipt) } else { c.uint.preencode(s, m.version); receipt.preencode(s, m.receipt!); strings.preencode(s, m.added); strings.preencode(s, m.removed) }
  },
  encode(s, m) {
    c.uint.encode(s, m.id); c.uint.encode(s, m.error ? 1 | (m.receipt ? 2 : 0) : 0)
    if (m.error) { encodeError(s, m.error, false); if (m.receipt) receipt.encode(s, m.receipt) } else { c.uint.encode(s, m.version); receipt.encode(s, m.receipt!); strings.encode(s, m.added); strings.encode(s, m.removed) }
  },
  decode(s) {
    const id = c.uint.decode(s)
    const flags = c.uint.decode(s)
    if (flags > 3 || flags === 2) throw new Error('bad upgrade response flags')
    if (flags & 1) return { id, error: decodeError(s, false), version: 0, receipt: flags & 2 ? receipt.decode(s) : null, added: [], removed: [] }
    return { id, error: null, version: c.uint.decode(s), receipt: receipt.decode(s), added: strings.decode(s), removed: strings.decode(s) }
  }
}

export const request: Encoding<Request> = {
  preencode(s, m) { c.uint.preencode(s, m.id); signedCall.preencode(s, m.call) },
  encode(s, m) { c.uint.encode(s, m.id); signedCall.encode(s, m.call) },
  decode(s) { return { id: c.uint.decode(s), call: signedCall.decode(s) } }
}

export const response: Encoding<Response> = {
  preencode(s, m) {
    c.uint.preencode(s, m.id); c.uint.preencode(s, 0)
    if (m.error) preencodeError(s, m.error, true); else c.buffer.preencode(s, m.value)
    if (m.receipt) receipt.preencode(s, m.receipt)
  },
  encode(s, m) {
    c.uint.encode(s, m.id)
    c.uint.encode(s, (m.error ? 1 : 0) | (m.error?.remote ? 2 : 0) | (m.receipt ? 4 : 0))
    if (m.error) encodeError(s, m.error, true); else c.buffer.encode(s, m.value)
    if (m.receipt) receipt.encode(s, m.receipt)
  },
  decode(s) {
    const id = c.uint.decode(s)
    const flags = c.uint.decode(s)
    let error: WireError | null = null
    let value: Uint8Array = new Uint8Array(0)
    if (flags & 1) {
      error = decodeError(s, (flags & 2) !== 0)
    } else {
      value = bytes(s)
    }
    const r = flags & 4 ? receipt.decode(s) : null
    return { id, error, value, receipt: r }
  }
}

/**
 * An auditor's signed statement: "I replayed entries 0..length-1 of this VM,
 * whose log has tree hash `treeHash` at `length`, and they checked out."
 */
export interface Attestation { auditor: Uint8Array; vmKey: Uint8Array; length: number; treeHash: Uint8Array; time: number; signature: Uint8Array }

export const attestation: Encoding<Attestation> = {
  preencode(s, m) { c.fixed32.preencode(s, m.auditor); c.fixed32.preencode(s, m.vmKey); c.uint.preencode(s, m.length); c.fixed32.preencode(s, m.treeHash); c.uint.preencode(s, m.time); c.fixed64.preencode(s, m.signature) },
  encode(s, m) { c.fixed32.encode(s, m.auditor); c.fixed32.encode(s, m.vmKey); c.uint.encode(s, m.length); c.fixed32.encode(s, m.treeHash); c.uint.encode(s, m.time); c.fixed64.encode(s, m.signature) },
  decode(s) { return { auditor: c.fixed32.decode(s), vmKey: c.fixed32.decode(s), length: c.uint.decode(s), treeHash: c.fixed32.decode(s), time: c.uint.decode(s), signature: c.fixed64.decode(s) } }
}

export const attestations = c.array(attestation)

/** Message 4 asks for the attestations a peer holds (`id` matches the answer, message 3). */
export const attestationsRequest: Encoding<{ id: number }> = {
  preencode(s, m) { c.uint.preencode(s, m.id) },
  encode(s, m) { c.uint.encode(s, m.id) },
  decode(s) { return { id: c.uint.decode(s) } }
}
export const attestationsResponse: Encoding<{ id: number; list: Attestation[] }> = {
  preencode(s, m) { c.uint.preencode(s, m.id); attestations.preencode(s, m.list) },
  encode(s, m) { c.uint.encode(s, m.id); attestations.encode(s, m.list) },
  decode(s) { return { id: c.uint.decode(s), list: attestations.decode(s) } }
}

export function attestationSignable(m: Omit<Attestation, 'signature'>): Buffer {
  const s = c.state()
  c.fixed32.preencode(s, m.vmKey); c.uint.preencode(s, m.length); c.fixed32.preencode(s, m.treeHash); c.uint.preencode(s, m.time)
  s.buffer = b4a.allocUnsafe(s.end)
  c.fixed32.encode(s, m.vmKey); c.uint.encode(s, m.length); c.fixed32.encode(s, m.treeHash); c.uint.encode(s, m.time)
  return b4a.concat([NS_ATTEST, s.buffer])
}

export function verifyAttestation(m: Attestation): boolean {
  return crypto.verify(attestationSignable(m), m.signature, m.auditor)
}

/** A signed head of the log: the host's signature over its tree at `length`. */
export interface SignedHead { length: number; fork: number; treeHash: Uint8Array; signer: Uint8Array; signature: Uint8Array }

export const signedHead: Encoding<SignedHead> = {
  preencode(s, m) { c.uint.preencode(s, m.length); c.uint.preencode(s, m.fork); c.fixed32.preencode(s, m.treeHash); c.fixed32.preencode(s, m.signer); c.fixed64.preencode(s, m.signature) },
  encode(s, m) { c.uint.encode(s, m.length); c.uint.encode(s, m.fork); c.fixed32.encode(s, m.treeHash); c.fixed32.encode(s, m.signer); c.fixed64.encode(s, m.signature) },
  decode(s) { return { length: c.uint.decode(s), fork: c.uint.decode(s), treeHash: c.fixed32.decode(s), signer: c.fixed32.decode(s), signature: c.fixed64.decode(s) } }
}

/** Message 6: run a method read-only (not logged). */
export interface ViewRequest { id: number; method: string; args: Uint8Array; caller: Uint8Array }
/** Message 7: a view's answer, and the log length whose files state it read. */
export interface ViewResponse { id: number; error: WireError | null; value: Uint8Array; length: number }

export const viewRequest: Encoding<ViewRequest> = {
  preencode(s, m) { c.uint.preencode(s, m.id); c.string.preencode(s, m.method); c.buffer.preencode(s, m.args); c.fixed32.preencode(s, m.caller) },
  encode(s, m) { c.uint.encode(s, m.id); c.string.encode(s, m.method); c.buffer.encode(s, m.args); c.fixed32.encode(s, m.caller) },
  decode(s) { return { id: c.uint.decode(s), method: c.string.decode(s), args: bytes(s), caller: c.fixed32.decode(s) } }
}

export const viewResponse: Encoding<ViewResponse> = {
  preencode(s, m) {
    c.uint.preencode(s, m.id); c.uint.preencode(s, 0); c.uint.preencode(s, m.length)
    if (m.error) preencodeError(s, m.error, true); else c.buffer.preencode(s, m.value)
  },
  encode(s, m) {
    c.uint.encode(s, m.id); c.uint.encode(s, (m.error ? 1 : 0) | (m.error?.remote ? 2 : 0)); c.uint.encode(s, m.length)
    if (m.error) encodeError(s, m.error, true); else c.buffer.encode(s, m.value)
  },
  decode(s) {
    const id = c.uint.decode(s)
    const flags = c.uint.decode(s)
    const length = c.uint.decode(s)
    if (flags & 1) return { id, length, value: new Uint8Array(0), error: decodeError(s, (flags & 2) !== 0) }
    return { id, length, value: bytes(s), error: null }
  }
}

/** Which of a VM's cores a blocks request reads: its log, or its files archive's hyperbee. */
/** Which core a bulk block request is for (BLOBS, the file contents, since the mirror's bulk copy). */
export enum BlockCore { LOG = 0, FILES = 1, BLOBS = 2 }

/** Message 8: blocks `start`..`end`-1 of one core, as they are (a volunteer's bulk fetch). */
export interface BlocksRequest { id: number; core: BlockCore; start: number; end: number }
/**
 * Message 9: the answer — consecutive blocks from `start`, as many as the
 * peer holds and fit one answer (none if it holds none); the receiver checks
 * them against the core's signed tree, never takes them on trust.
 */
export interface BlocksResponse { id: number; start: number; blocks: Uint8Array[]; error: WireError | null }

export const blocksRequest: Encoding<BlocksRequest> = {
  preencode(s, m) { c.uint.preencode(s, m.id); c.uint.preencode(s, m.core); c.uint.preencode(s, m.start); c.uint.preencode(s, m.end) },
  encode(s, m) { c.uint.encode(s, m.id); c.uint.encode(s, m.core); c.uint.encode(s, m.start); c.uint.encode(s, m.end) },
  decode(s) { return { id: c.uint.decode(s), core: c.uint.decode(s), start: c.uint.decode(s), end: c.uint.decode(s) } }
}

const blockList = c.array(c.buffer)

export const blocksResponse: Encoding<BlocksResponse> = {
  preencode(s, m) {
    c.uint.preencode(s, m.id); c.uint.preencode(s, m.start); c.uint.preencode(s, m.error ? 1 : 0)
    if (m.error) preencodeError(s, m.error, false); else blockList.preencode(s, m.blocks)
  },
  encode(s, m) {
    c.uint.encode(s, m.id); c.uint.encode(s, m.start); c.uint.encode(s, m.error ? 1 : 0)
    if (m.error) encodeError(s, m.error, false); else blockList.encode(s, m.blocks)
  },
  decode(s) {
    const id = c.uint.decode(s)
    const start = c.uint.decode(s)
    if (c.uint.decode(s) & 1) return { id, start, blocks: [], error: decodeError(s, false) }
    return { id, start, blocks: blockList.decode(s).map((b) => b ?? new Uint8Array(0)), error: null }
  }
}

/** A core's head as one side names it: its length, fork and tree hash at that length. */
export interface CoreHead { length: number; fork: number; treeHash: Uint8Array }

const coreHead: Encoding<CoreHead> = {
  preencode(s, m) { c.uint.preencode(s, m.length); c.uint.preencode(s, m.fork); c.fixed32.preencode(s, m.treeHash) },
  encode(s, m) { c.uint.encode(s, m.length); c.uint.encode(s, m.fork); c.fixed32.encode(s, m.treeHash) },
  decode(s) { return { length: c.uint.decode(s), fork: c.uint.decode(s), treeHash: c.fixed32.decode(s) } }
}

/** A core's length and fork, as the host states them. */
export interface CoreExtent { length: number; fork: number }

const coreExtent: Encoding<CoreExtent> = {
  preencode(s, m) { c.uint.preencode(s, m.length); c.uint.preencode(s, m.fork) },
  encode(s, m) { c.uint.encode(s, m.length); c.uint.encode(s, m.fork) },
  decode(s) { return { length: c.uint.decode(s), fork: c.uint.decode(s) } }
}

/**
 * What an auditor asks the host to state what its log commits to against: a
 * fresh nonce, and the heads of the files archive's two cores it holds
 * (signed by the host, so the host had published them before it answers).
 */
export interface FilesStateQuery { nonce: Uint8Array; db: CoreHead; blobs: CoreHead }

export const filesStateQuery: Encoding<FilesStateQuery> = {
  preencode(s, m) { c.fixed(16).preencode(s, m.nonce); coreHead.preencode(s, m.db); coreHead.preencode(s, m.blobs) },
  encode(s, m) { c.fixed(16).encode(s, m.nonce); coreHead.encode(s, m.db); coreHead.encode(s, m.blobs) },
  decode(s) { return { nonce: c.fixed(16).decode(s), db: coreHead.decode(s), blobs: coreHead.decode(s) } }
}

/**
 * The host's answer, signed with the log's key over the query: its log's head
 * and its archive's cores' lengths and forks, taken once every commit under
 * way when the query came was finished, so an honest host's log head commits
 * to exactly those lengths, and they are at least what the query names.
 */
export interface FilesStateBody { log: CoreHead; db: CoreExtent; blobs: CoreExtent }
export interface FilesStateStatement extends FilesStateBody { signer: Uint8Array; signature: Uint8Array }

const filesStateBody: Encoding<FilesStateBody> = {
  preencode(s, m) { coreHead.preencode(s, m.log); coreExtent.preencode(s, m.db); coreExtent.preencode(s, m.blobs) },
  encode(s, m) { coreHead.encode(s, m.log); coreExtent.encode(s, m.db); coreExtent.encode(s, m.blobs) },
  decode(s) { return { log: coreHead.decode(s), db: coreExtent.decode(s), blobs: coreExtent.decode(s) } }
}

export const filesStateStatement: Encoding<FilesStateStatement> = {
  preencode(s, m) { filesStateBody.preencode(s, m); c.fixed32.preencode(s, m.signer); c.fixed64.preencode(s, m.signature) },
  encode(s, m) { filesStateBody.encode(s, m); c.fixed32.encode(s, m.signer); c.fixed64.encode(s, m.signature) },
  decode(s) { return { ...filesStateBody.decode(s), signer: c.fixed32.decode(s), signature: c.fixed64.decode(s) } }
}

const [NS_FILES_STATE] = crypto.namespace('vms-node/files-state', 1) as [Buffer]

/** What the host signs: the VM, the query it answers, and its statement's body. */
export function filesStateSignable(vmKey: Uint8Array, query: FilesStateQuery, body: FilesStateBody): Buffer {
  return b4a.concat([NS_FILES_STATE, vmKey, c.encode(filesStateQuery, query), c.encode(filesStateBody, { log: body.log, db: body.db, blobs: body.blobs })])
}

/** Message 10: an auditor's query (to the host; a mirror answers that it cannot sign). */
export interface FilesStateRequest { id: number; query: FilesStateQuery }
/** Message 11: the host's statement, or why there is none. */
export interface FilesStateResponse { id: number; statement: FilesStateStatement | null; error: WireError | null }

export const filesStateRequest: Encoding<FilesStateRequest> = {
  preencode(s, m) { c.uint.preencode(s, m.id); filesStateQuery.preencode(s, m.query) },
  encode(s, m) { c.uint.encode(s, m.id); filesStateQuery.encode(s, m.query) },
  decode(s) { return { id: c.uint.decode(s), query: filesStateQuery.decode(s) } }
}

export const filesStateResponse: Encoding<FilesStateResponse> = {
  preencode(s, m) {
    c.uint.preencode(s, m.id); c.uint.preencode(s, m.error ? 1 : 0)
    if (m.error) preencodeError(s, m.error, false); else filesStateStatement.preencode(s, m.statement!)
  },
  encode(s, m) {
    c.uint.encode(s, m.id); c.uint.encode(s, m.error ? 1 : 0)
    if (m.error) encodeError(s, m.error, false); else filesStateStatement.encode(s, m.statement!)
  },
  decode(s) {
    const id = c.uint.decode(s)
    if (c.uint.decode(s) & 1) return { id, statement: null, error: decodeError(s, false) }
    return { id, statement: filesStateStatement.decode(s), error: null }
  }
}

/** The control protocol of a node (deploy, ls, stop), on channel `vms-node/control/1`. */
export const CONTROL_PROTOCOL = 'vms-node/control/1'
const [NS_CONTROL] = crypto.namespace('vms-node/control', 1) as [Buffer]

export interface ControlRequest { id: number; op: string; payload: Uint8Array; caller: Uint8Array; time: number; signature: Uint8Array }
export interface ControlResponse { id: number; error: WireError | null; result: Uint8Array }

export const controlRequest: Encoding<ControlRequest> = {
  preencode(s, m) { c.uint.preencode(s, m.id); c.string.preencode(s, m.op); c.buffer.preencode(s, m.payload); c.fixed32.preencode(s, m.caller); c.uint.preencode(s, m.time); c.fixed64.preencode(s, m.signature) },
  encode(s, m) { c.uint.encode(s, m.id); c.string.encode(s, m.op); c.buffer.encode(s, m.payload); c.fixed32.encode(s, m.caller); c.uint.encode(s, m.time); c.fixed64.encode(s, m.signature) },
  decode(s) { return { id: c.uint.decode(s), op: c.string.decode(s), payload: bytes(s), caller: c.fixed32.decode(s), time: c.uint.decode(s), signature: c.fixed64.decode(s) } }
}

export const controlResponse: Encoding<ControlResponse> = {
  preencode(s, m) { c.uint.preencode(s, m.id); c.uint.preencode(s, 0); if (m.error) preencodeError(s, m.error, false); else c.buffer.preencode(s, m.result) },
  encode(s, m) { c.uint.encode(s, m.id); c.uint.encode(s, m.error ? 1 : 0); if (m.error) encodeError(s, m.error, false); else c.buffer.encode(s, m.result) },
  decode(s) {
    const id = c.uint.decode(s)
    const flags = c.uint.decode(s)
    if (flags & 1) return { id, error: decodeError(s, false), result: new Uint8Array(0) }
    return { id, error: null, result: bytes(s) }
  }
}

/** What a deployer signs: the node it addresses, the operation, its payload, the time. */
export function controlSignable(nodeKey: Uint8Array, op: string, payload: Uint8Array, time: number): Buffer {
  const s = c.state()
  c.fixed32.preencode(s, nodeKey); c.string.preencode(s, op); c.buffer.preencode(s, payload); c.uint.preencode(s, time)
  s.buffer = b4a.allocUnsafe(s.end)
  c.fixed32.encode(s, nodeKey); c.string.encode(s, op); c.buffer.encode(s, payload); c.uint.encode(s, time)
  return b4a.concat([NS_CONTROL, s.buffer])
}

/** What a host signs to prove, on this connection, that it holds the VM's log key. */
export function proofSignable(handshakeHash: Uint8Array, vmKey: Uint8Array): Buffer {
  return b4a.concat([NS_PROOF, handshakeHash, vmKey])
}

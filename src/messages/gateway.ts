/**
 * The gateway's WebSocket frames, between a web page and a gateway node
 * (`vms-node gateway`), which relays them over the swarm. Binary frames, one
 * message each: a version (1), a type, a request id, then the type's fields.
 * The page sends requests (odd types); the gateway answers each with the
 * next type and the same id, or with ERROR, and pushes GROWN for a watch.
 *
 * What the page can check itself travels as it does between peers: signed
 * calls (the page signs), receipts, and log proofs (entries under the log's
 * signature). Views and file reads are the gateway's word.
 */
import c, { type Encoding, type State } from 'compact-encoding'
import { receipt, signedCall, rootNodes, strings, bytes, type Receipt, type SignedCall, type RootNode } from './index.js'
import { attestations, encodeError, preencodeError, decodeError, type Attestation, type WireError } from './wire.js'

/** The WebSocket subprotocol a page asks for. */
export const GATEWAY_PROTOCOL = 'vms-gateway.1'
export const GATEWAY_FRAME_VERSION = 1

export enum FrameType {
  /** What a VM is, with the genesis proven (page → gateway). */
  INFO = 1, INFO_OK = 2,
  /** A call the page signed. */
  CALL = 3, CALL_OK = 4,
  /** A view (read-only, unlogged: the answering peer's word). */
  VIEW = 5, VIEW_OK = 6,
  /** A file read (`readdir`, `readFile`, `stat`): the gateway's word. */
  FILES = 7, FILES_OK = 8,
  /** Log entries from..to, under the log's signature. */
  LOG = 9, LOG_OK = 10,
  /** Auditors' attestations up to an entry. */
  VOUCHERS = 11, VOUCHERS_OK = 12,
  /** Be told when the log grows: WATCH_OK, then GROWN pushes with the watch's id. */
  WATCH = 13, WATCH_OK = 14, GROWN = 16,
  /** Any request's failure. */
  ERROR = 15
}

/**
 * Entries `from`..`from + entries.length - 1` of a log, provable with the VM
 * key alone: the tree roots before them, the entries, the subtrees after them
 * up to the length the signature covers, and that signature (a receipt is
 * the case of one entry).
 */
export interface LogProof { from: number; fork: number; signer: Uint8Array; roots: RootNode[]; entries: Uint8Array[]; after: RootNode[]; signature: Uint8Array }

export interface GatewayInfo {
  methods: string[]
  views: string[]
  /** The log's length as the gateway knows it. */
  length: number
  /** Whether a proven host answered (else a mirror). */
  host: boolean
  /** The genesis (entry 0) and the newest upgrade before `length` (if any), proven. */
  genesis: LogProof
  script: LogProof | null
}

export type Frame =
  | { type: FrameType.INFO; id: number; vm: Uint8Array }
  | { type: FrameType.INFO_OK; id: number; info: GatewayInfo }
  | { type: FrameType.CALL; id: number; vm: Uint8Array; call: SignedCall }
  | { type: FrameType.CALL_OK; id: number; receipt: Receipt }
  | { type: FrameType.VIEW; id: number; vm: Uint8Array; method: string; args: Uint8Array }
  | { type: FrameType.VIEW_OK; id: number; value: Uint8Array; length: number }
  | { type: FrameType.FILES; id: number; vm: Uint8Array; op: string; path: string; opts: Uint8Array }
  | { type: FrameType.FILES_OK; id: number; value: Uint8Array }
  | { type: FrameType.LOG; id: number; vm: Uint8Array; from: number; to: number }
  | { type: FrameType.LOG_OK; id: number; proof: LogProof }
  | { type: FrameType.VOUCHERS; id: number; vm: Uint8Array; index: number }
  | { type: FrameType.VOUCHERS_OK; id: number; list: Attestation[] }
  | { type: FrameType.WATCH; id: number; vm: Uint8Array }
  | { type: FrameType.WATCH_OK; id: number; length: number }
  | { type: FrameType.GROWN; id: number; length: number }
  /** `receipt`: where the call was logged all the same (a failed call, DURABILITY_TIMEOUT), the page checks the error against it. */
  | { type: FrameType.ERROR; id: number; error: WireError; receipt: Receipt | null }

export const logProof: Encoding<LogProof> = {
  preencode(s, m) {
    c.uint.preencode(s, 1); c.uint.preencode(s, m.from); c.uint.preencode(s, m.fork); c.fixed32.preencode(s, m.signer)
    rootNodes.preencode(s, m.roots); entryList.preencode(s, m.entries); rootNodes.preencode(s, m.after); c.fixed64.preencode(s, m.signature)
  },
  encode(s, m) {
    c.uint.encode(s, 1); c.uint.encode(s, m.from); c.uint.encode(s, m.fork); c.fixed32.encode(s, m.signer)
    rootNodes.encode(s, m.roots); entryList.encode(s, m.entries); rootNodes.encode(s, m.after); c.fixed64.encode(s, m.signature)
  },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== 1) throw new Error(`unknown log proof version ${v}`)
    return { from: c.uint.decode(s), fork: c.uint.decode(s), signer: c.fixed32.decode(s), roots: rootNodes.decode(s), entries: entryList.decode(s), after: rootNodes.decode(s), signature: c.fixed64.decode(s) }
  }
}

const entryList: Encoding<Uint8Array[]> = {
  preencode(s, m) { c.uint.preencode(s, m.length); for (const e of m) c.buffer.preencode(s, e) },
  encode(s, m) { c.uint.encode(s, m.length); for (const e of m) c.buffer.encode(s, e) },
  decode(s) {
    const n = c.uint.decode(s)
    if (n > s.end - s.start) throw new Error('more entries than bytes')
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) out.push(bytes(s))
    return out
  }
}

const gatewayInfo: Encoding<GatewayInfo> = {
  preencode(s, m) {
    strings.preencode(s, m.methods); strings.preencode(s, m.views); c.uint.preencode(s, m.length); c.bool.preencode(s, m.host)
    logProof.preencode(s, m.genesis); c.bool.preencode(s, m.script !== null); if (m.script) logProof.preencode(s, m.script)
  },
  encode(s, m) {
    strings.encode(s, m.methods); strings.encode(s, m.views); c.uint.encode(s, m.length); c.bool.encode(s, m.host)
    logProof.encode(s, m.genesis); c.bool.encode(s, m.script !== null); if (m.script) logProof.encode(s, m.script)
  },
  decode(s) {
    return {
      methods: strings.decode(s), views: strings.decode(s), length: c.uint.decode(s), host: c.bool.decode(s),
      genesis: logProof.decode(s), script: c.bool.decode(s) ? logProof.decode(s) : null
    }
  }
}

/** An error, with the script's own error (`remote`) and a receipt where there are any: flags 1 and 2. */
const frameError = {
  preencode(s: State, e: WireError, r: Receipt | null) { c.uint.preencode(s, 0); preencodeError(s, e, !!e.remote); if (r) receipt.preencode(s, r) },
  encode(s: State, e: WireError, r: Receipt | null) { c.uint.encode(s, (e.remote ? 1 : 0) | (r ? 2 : 0)); encodeError(s, e, !!e.remote); if (r) receipt.encode(s, r) },
  decode(s: State): { error: WireError; receipt: Receipt | null } {
    const flags = c.uint.decode(s)
    if (flags > 3) throw new Error('bad error flags')
    const error = decodeError(s, (flags & 1) !== 0)
    return { error, receipt: flags & 2 ? receipt.decode(s) : null }
  }
}

function body(s: State, m: Frame, op: 'preencode' | 'encode'): void {
  switch (m.type) {
    case FrameType.INFO: case FrameType.WATCH: c.fixed32[op](s, m.vm); return
    case FrameType.INFO_OK: gatewayInfo[op](s, m.info); return
    case FrameType.CALL: c.fixed32[op](s, m.vm); signedCall[op](s, m.call); return
    case FrameType.CALL_OK: receipt[op](s, m.receipt); return
    case FrameType.VIEW: c.fixed32[op](s, m.vm); c.string[op](s, m.method); c.buffer[op](s, m.args); return
    case FrameType.VIEW_OK: c.buffer[op](s, m.value); c.uint[op](s, m.length); return
    case FrameType.FILES: c.fixed32[op](s, m.vm); c.string[op](s, m.op); c.string[op](s, m.path); c.buffer[op](s, m.opts); return
    case FrameType.FILES_OK: c.buffer[op](s, m.value); return
    case FrameType.LOG: c.fixed32[op](s, m.vm); c.uint[op](s, m.from); c.uint[op](s, m.to); return
    case FrameType.LOG_OK: logProof[op](s, m.proof); return
    case FrameType.VOUCHERS: c.fixed32[op](s, m.vm); c.uint[op](s, m.index); return
    case FrameType.VOUCHERS_OK: attestations[op](s, m.list); return
    case FrameType.WATCH_OK: case FrameType.GROWN: c.uint[op](s, m.length); return
    case FrameType.ERROR: frameError[op](s, m.error, m.receipt); return
  }
}

export const frame: Encoding<Frame> = {
  preencode(s, m) { c.uint.preencode(s, GATEWAY_FRAME_VERSION); c.uint.preencode(s, m.type); c.uint.preencode(s, m.id); body(s, m, 'preencode') },
  encode(s, m) { c.uint.encode(s, GATEWAY_FRAME_VERSION); c.uint.encode(s, m.type); c.uint.encode(s, m.id); body(s, m, 'encode') },
  decode(s) {
    const v = c.uint.decode(s)
    if (v !== GATEWAY_FRAME_VERSION) throw new Error(`unknown gateway frame version ${v}`)
    const type = c.uint.decode(s) as FrameType
    const id = c.uint.decode(s)
    switch (type) {
      case FrameType.INFO: case FrameType.WATCH: return { type, id, vm: c.fixed32.decode(s) }
      case FrameType.INFO_OK: return { type, id, info: gatewayInfo.decode(s) }
      case FrameType.CALL: return { type, id, vm: c.fixed32.decode(s), call: signedCall.decode(s) }
      case FrameType.CALL_OK: return { type, id, receipt: receipt.decode(s) }
      case FrameType.VIEW: return { type, id, vm: c.fixed32.decode(s), method: c.string.decode(s), args: bytes(s) }
      case FrameType.VIEW_OK: return { type, id, value: bytes(s), length: c.uint.decode(s) }
      case FrameType.FILES: return { type, id, vm: c.fixed32.decode(s), op: c.string.decode(s), path: c.string.decode(s), opts: bytes(s) }
      case FrameType.FILES_OK: return { type, id, value: bytes(s) }
      case FrameType.LOG: return { type, id, vm: c.fixed32.decode(s), from: c.uint.decode(s), to: c.uint.decode(s) }
      case FrameType.LOG_OK: return { type, id, proof: logProof.decode(s) }
      case FrameType.VOUCHERS: return { type, id, vm: c.fixed32.decode(s), index: c.uint.decode(s) }
      case FrameType.VOUCHERS_OK: return { type, id, list: attestations.decode(s) }
      case FrameType.WATCH_OK: case FrameType.GROWN: return { type, id, length: c.uint.decode(s) }
      case FrameType.ERROR: return { type, id, ...frameError.decode(s) }
      default: throw new Error(`unknown gateway frame type ${type}`)
    }
  }
}

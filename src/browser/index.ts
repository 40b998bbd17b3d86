/**
 * vms-node in a web page: dial a VM through a gateway (`vms-node gateway`),
 * call it, read it. The page holds the caller's key (PageIdentity) and checks
 * what the gateway relays against the VM key itself:
 *
 * - calls are signed here: a gateway that alters one makes it fail the
 *   host's signature check;
 * - every answer to a call is its receipt, checked here (the result is the
 *   entry's logged outcome): a gateway that invents or alters one is caught,
 *   and the call rejects with BAD_RECEIPT;
 * - `info()` (files key, oracles, owners, script version) and `log()` come
 *   from log entries proven under the log's signature; `vouchers()` checks
 *   each attestation's signature and tree hash against proven entries.
 *
 * Views and file reads are the gateway's word (`verified: false`): proving a
 * file read needs the archive's tree walked in the page, which this build
 * does not do (see docs/browser.md).
 */
import b4a from 'b4a'
import { VmsError } from '../errors.js'
import { encode, decodeStrict, scriptHash, EntryType, receipt as receiptEncoding, type LogEntry, type Receipt, type SignedCall, type Genesis } from '../messages/index.js'
import { frame, FrameType, GATEWAY_PROTOCOL, type Frame, type LogProof } from '../messages/gateway.js'
import { fromWireError, verifyAttestation, type WireError } from '../messages/wire.js'
import { verifyLogProof, provenLength, checkedAnswer, receiptSignable, logProofSignable, ReceiptCache } from '../receipt.js'
import { preverify } from './fast-verify.js'
import { MerkleRoots } from '../merkle.js'
import { canonicalDecode, canonicalEncode } from '../canonical-json.js'
import { toKey, formatKey } from '../identity.js'
import { ownersOf } from '../host/script-version.js'
import { scriptInForce, withScriptChange } from '../client/script-changed.js'
import { PageIdentity } from './page-identity.js'

export { PageIdentity, VmsError, formatKey, toKey, canonicalDecode }
export { verifyReceipt, verifyReceiptEntry, verifyLogProof, signedLength } from '../receipt.js'
export { EntryType, LoadReason, scriptHash, type LogEntry, type Receipt } from '../messages/index.js'

/**
 * A receipt as text (what `vms-node call --json` prints as `receipt.hex`, or
 * the same bytes in base64) back into a receipt, for verifyReceiptEntry.
 */
export function decodeReceipt(text: string): Receipt {
  const t = text.trim()
  const bytes = /^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0 ? b4a.from(t, 'hex') : /^[A-Za-z0-9+/=_-]+$/.test(t) ? b4a.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : null
  if (!bytes || bytes.byteLength === 0) throw new VmsError('BAD_RECEIPT', 'a receipt is the hex (or base64) of its bytes, as `vms-node call --json` prints it (receipt.hex)')
  try {
    return decodeStrict(receiptEncoding, bytes, 'receipt')
  } catch {
    throw new VmsError('BAD_RECEIPT', 'these bytes do not decode as a receipt')
  }
}

type Request = Frame extends infer F ? F extends { type: FrameType.INFO | FrameType.CALL | FrameType.VIEW | FrameType.FILES | FrameType.LOG | FrameType.VOUCHERS | FrameType.WATCH } ? Omit<F, 'id'> : never : never
type Answer = Exclude<Frame, { type: FrameType.ERROR }>

export interface ConnectOptions {
  /** The caller identity: one made here, or the name of one kept in this origin's IndexedDB. @default 'default' */
  identity?: PageIdentity | string
  /** Give up on an answer after this long (ms). @default 15000 */
  timeoutMs?: number
}

/** Connect to a gateway: `ws://host:port` (an http(s) URL works too). Default: the gateway that served this page. */
export async function connect(url?: string, opts: ConnectOptions = {}): Promise<Gateway> {
  const identity = opts.identity instanceof PageIdentity ? opts.identity : await PageIdentity.load(opts.identity ?? 'default')
  const target = wsUrl(url)
  const ws = new WebSocket(target, GATEWAY_PROTOCOL)
  ws.binaryType = 'arraybuffer'
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new VmsError('HOST_OFFLINE', `no gateway answered at ${target}: is \`vms-node gateway\` running there, and does it allow this page's origin (--origin)?`))
  })
  return new Gateway(ws, identity, opts.timeoutMs ?? 15000)
}

function wsUrl(url?: string): string {
  const loc = (globalThis as { location?: Location }).location
  const u = new URL(url ?? (loc ? loc.origin : 'ws://127.0.0.1:8080'), loc?.href)
  if (u.protocol === 'http:') u.protocol = 'ws:'
  if (u.protocol === 'https:') u.protocol = 'wss:'
  return u.href
}

interface Waiting { resolve(f: Answer): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }

/** A connection to a gateway. */
export class Gateway {
  readonly identity: PageIdentity
  readonly timeoutMs: number
  private nextId = 1
  private waiting = new Map<number, Waiting>()
  private watchers = new Map<number, (length: number) => void>()
  private closed_ = false
  private closeReason = ''
  /** Called once when the connection to the gateway closes (why, in words): pending requests have failed with CONNECTION_LOST. */
  onclose: ((reason: string) => void) | null = null

  constructor(private ws: WebSocket, identity: PageIdentity, timeoutMs: number) {
    this.identity = identity
    this.timeoutMs = timeoutMs
    ws.onmessage = (ev) => this.onFrame(new Uint8Array(ev.data as ArrayBuffer))
    ws.onclose = (ev) => this.onClose(ev.code, ev.reason)
  }

  /** Dial a VM by key (z-base-32 or hex). Resolves once the gateway reached it and its genesis checked out. */
  async dial(key: Uint8Array | string): Promise<Vm & Record<string, (...args: unknown[]) => Promise<unknown>>> {
    const vm = new Vm(this, toKey(key))
    await vm.info()
    return withMethods(vm)
  }

  /** Whether the connection to the gateway has closed (connect again to go on). */
  get closed(): boolean { return this.closed_ }

  close(): void {
    if (this.closed_) return
    this.ws.close(1000, 'closed by the page')
    this.onClose(1000, 'closed by the page')
  }

  /** @internal */
  request(req: Request): Promise<Answer> {
    if (this.closed_) return Promise.reject(new VmsError('CONNECTION_LOST', `the gateway connection is closed${this.closeReason ? ` (${this.closeReason})` : ''}: connect again`))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new VmsError('TIMEOUT', `the gateway did not answer within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.waiting.set(id, { resolve, reject, timer })
      this.ws.send(encode(frame, { ...req, id } as Frame) as Uint8Array<ArrayBuffer>)
    })
  }

  /** @internal A watch: answers (WATCH_OK, then GROWN) go to `fn` until `unwatch`. */
  watch(vm: Uint8Array, fn: (length: number) => void): { id: number; ready: Promise<Answer> } {
    const id = this.nextId
    this.watchers.set(id, fn)
    return { id, ready: this.request({ type: FrameType.WATCH, vm }) }
  }

  /** @internal */
  unwatch(id: number): void { this.watchers.delete(id) }

  private onFrame(data: Uint8Array): void {
    let f: Frame
    try {
      f = decodeStrict(frame, data, 'gateway frame')
    } catch {
      return this.fail('the gateway sent a frame that does not decode')
    }
    if (f.type === FrameType.GROWN || f.type === FrameType.WATCH_OK) this.watchers.get(f.id)?.(f.length)
    if (f.type === FrameType.GROWN) return
    const w = this.waiting.get(f.id)
    if (!w) return
    this.waiting.delete(f.id)
    clearTimeout(w.timer)
    if (f.type === FrameType.ERROR) w.reject(Object.assign(new GatewayError(f.error), { wire: f.error, receipt: f.receipt }))
    else w.resolve(f)
  }

  private fail(reason: string): void {
    this.ws.close(1002, reason.slice(0, 120))
    this.onClose(1002, reason)
  }

  private onClose(code: number, reason: string): void {
    if (this.closed_) return
    this.closed_ = true
    this.closeReason = reason || `code ${code}`
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer)
      w.reject(new VmsError('CONNECTION_LOST', `the gateway connection closed (${this.closeReason}) before the answer came: a call may or may not have run; check the log`))
    }
    this.waiting.clear()
    this.watchers.clear()
    try { this.onclose?.(this.closeReason) } catch {}
  }
}

/** An ERROR frame, as thrown before the page decides what it means. */
class GatewayError extends Error {
  constructor(e: WireError) { super(e.message) }
}

type Wire = { wire: WireError; receipt: Receipt | null }

export interface VmInfo {
  key: string
  methods: string[]
  views: string[]
  /** The log's length the gateway knows (the proofs cover at least the genesis). */
  length: number
  host: boolean
  trust: 'trustless' | 'trusted'
  oracles: string[]
  filesKey: Uint8Array
  /** Who may upgrade the script (caller ids); none: immutable. */
  owners: string[]
  /** The script version in force as the gateway proved it, its hash, its file name, and the entry that made it (0: the genesis). */
  version: number
  scriptHash: Uint8Array
  scriptFilename: string
  scriptEntry: number
  /** The fields above come from log entries proven under the VM key (methods, views, length, host: the gateway's word). */
  verified: true
}

/** A VM, dialled through a gateway. Methods by name: `vm.RSVP(true)`. */
export class Vm {
  readonly key: Uint8Array
  private cache = new ReceiptCache()
  private genesis_: Genesis | null = null
  private pinned: { version: number; hash: Uint8Array; methods: string[] } | null | undefined = undefined
  private latest: { version: number; hash: Uint8Array; methods: string[] } | null = null

  constructor(private gateway: Gateway, key: Uint8Array) {
    this.key = key
  }

  get id(): string { return formatKey(this.key) }

  async info(): Promise<VmInfo> {
    const a = await this.ask({ type: FrameType.INFO, vm: this.key })
    if (a.type !== FrameType.INFO_OK) throw badAnswer()
    await this.preverifyProof(a.info.genesis)
    if (a.info.script) await this.preverifyProof(a.info.script)
    const [genesis] = this.proven(a.info.genesis, 0, 1)
    if (genesis?.type !== EntryType.GENESIS) throw new VmsError('BAD_RECEIPT', 'the gateway\'s entry 0 is not a genesis')
    this.genesis_ = genesis
    let version = 1
    let hash: Uint8Array = scriptHash(genesis.script)
    let filename = genesis.filename
    let entry = 0
    if (a.info.script) {
      const [up] = this.proven(a.info.script, a.info.script.from, 1)
      if (up?.type !== EntryType.UPGRADE) throw new VmsError('BAD_RECEIPT', `the gateway's script entry ${a.info.script.from} is not an upgrade`)
      version = up.version
      hash = scriptHash(up.script)
      filename = up.filename
      entry = a.info.script.from
    }
    if (this.pinned === undefined) this.pinned = { version, hash, methods: a.info.methods }
    return {
      key: this.id, methods: a.info.methods, views: a.info.views, length: Math.max(a.info.length, provenLength(a.info.genesis)), host: a.info.host,
      trust: genesis.oracles.length === 0 ? 'trustless' : 'trusted', oracles: genesis.oracles, filesKey: genesis.filesKey,
      owners: ownersOf(genesis).map(formatKey), version, scriptHash: hash, scriptFilename: filename, scriptEntry: entry, verified: true
    }
  }

  call(method: string, ...args: unknown[]): Promise<unknown> {
    return this.callWithReceipt(method, ...args).then((r) => r.result)
  }

  /** Signed here, sent through the gateway; resolves once the receipt checks out against the VM key, with the logged result. */
  async callWithReceipt(method: string, ...args: unknown[]): Promise<{ result: unknown; receipt: Receipt }> {
    if (this.pinned === undefined) await this.info()
    const call = await this.gateway.identity.sign(this.key, method, args, this.pinned ? { scriptHash: this.pinned.hash } : {})
    let a: Answer
    try {
      a = await this.gateway.request({ type: FrameType.CALL, vm: this.key, call })
    } catch (err) {
      const receipt = (err as Partial<Wire>).receipt
      if (receipt) await this.preverifyReceipt(receipt)
      throw this.callError(err, call)
    }
    if (a.type !== FrameType.CALL_OK) throw badAnswer()
    await this.preverifyReceipt(a.receipt)
    return { result: checkedAnswer(this.key, call, a.receipt, null, null, this.cache), receipt: a.receipt }
  }

  /** An ERROR answer to a call: checked against its receipt where there is one. */
  private callError(err: unknown, call: SignedCall): Error {
    const { wire, receipt } = err as Partial<Wire>
    if (!wire) return err as Error
    if (receipt) {
      try {
        checkedAnswer(this.key, call, receipt, wire, null, this.cache)
      } catch (checked) {
        return checked as Error
      }
      return new VmsError('BAD_RECEIPT', 'the gateway answered an error with a receipt of a success')
    }
    const e = fromWireError(wire)
    if (e.code !== 'SCRIPT_CHANGED') return e
    const now = scriptInForce(e)
    if (!now) return e
    this.latest = now
    return withScriptChange(e, now, this.pinned?.methods ?? [])
  }

  /** The version calls are signed for (null: unpinned). */
  get script(): { version: number; hash: Uint8Array; methods: string[] } | null {
    return this.pinned ? { ...this.pinned, methods: this.pinned.methods.slice() } : null
  }

  pin(hash: Uint8Array | null, seen: { version?: number; methods?: string[] } = {}): void {
    this.pinned = hash ? { version: seen.version ?? 0, hash, methods: seen.methods?.slice() ?? [] } : null
  }

  /** Pin to the version the host named when it refused a call (SCRIPT_CHANGED), or to the one proven now. */
  async repin(): Promise<{ version: number; hash: Uint8Array }> {
    if (this.latest) {
      this.pinned = this.latest
      this.latest = null
    } else {
      this.pinned = undefined
      await this.info()
    }
    return { version: this.pinned!.version, hash: this.pinned!.hash }
  }

  /** A view: run read-only by the host or a mirror. The gateway's word (verified: false). */
  async view(method: string, ...args: unknown[]): Promise<{ result: unknown; length: number; verified: false }> {
    const a = await this.ask({ type: FrameType.VIEW, vm: this.key, method, args: canonicalEncode(args, 64 * 1024) })
    if (a.type !== FrameType.VIEW_OK) throw badAnswer()
    return { result: canonicalDecode(a.value), length: a.length, verified: false }
  }

  /** The VM's files, as the gateway reads them (verified: false). */
  get files(): { verified: false; readdir(path: string): Promise<string[]>; readFile(path: string, encoding?: 'utf8'): Promise<Uint8Array | string>; stat(path: string): Promise<{ size: number; mtime: string; isFile: boolean; isDirectory: boolean } | null> } {
    const read = async (op: string, path: string): Promise<Uint8Array> => {
      const a = await this.ask({ type: FrameType.FILES, vm: this.key, op, path, opts: new Uint8Array(0) })
      if (a.type !== FrameType.FILES_OK) throw badAnswer()
      return a.value
    }
    const json = (b: Uint8Array) => JSON.parse(b4a.toString(b, 'utf8'))
    return {
      verified: false,
      readdir: async (path) => json(await read('readdir', path)),
      readFile: async (path, encoding) => {
        const data = await read('readFile', path)
        return encoding === 'utf8' ? b4a.toString(data, 'utf8') : data
      },
      stat: async (path) => json(await read('stat', path))
    }
  }

  /** Log entries [from, to), proven under the log's signature, with the length that signature covers. */
  async log(from: number, to: number): Promise<{ entries: Array<LogEntry & { index: number }>; length: number }> {
    const a = await this.ask({ type: FrameType.LOG, vm: this.key, from, to })
    if (a.type !== FrameType.LOG_OK) throw badAnswer()
    if (a.proof.from !== from || a.proof.entries.length === 0 || a.proof.entries.length > to - from) throw new VmsError('BAD_RECEIPT', `the gateway proved entries ${a.proof.from}.. for ${from}..${to - 1}`)
    await this.preverifyProof(a.proof)
    const entries = this.proven(a.proof, from, a.proof.entries.length)
    return { entries: entries.map((e, i) => Object.assign(e, { index: from + i })), length: provenLength(a.proof) }
  }

  /**
   * Who vouches for entry `index`: auditors whose attestation covers it,
   * each checked here (its signature, and its tree hash against the log at
   * its length, proven).
   */
  async vouchers(index: number): Promise<{ count: number; auditors: Array<{ id: string; length: number }> }> {
    const a = await this.ask({ type: FrameType.VOUCHERS, vm: this.key, index })
    if (a.type !== FrameType.VOUCHERS_OK) throw badAnswer()
    const trees = new Map<number, Uint8Array | null>()
    const auditors = new Map<string, number>()
    for (const at of a.list) {
      if (!b4a.equals(at.vmKey, this.key) || at.length <= index || !verifyAttestation(at)) continue
      if (!trees.has(at.length)) trees.set(at.length, await this.treeHashAt(at.length).catch(() => null))
      const tree = trees.get(at.length)
      if (!tree || !b4a.equals(tree, at.treeHash)) continue
      auditors.set(formatKey(at.auditor), Math.max(auditors.get(formatKey(at.auditor)) ?? 0, at.length))
    }
    return { count: auditors.size, auditors: [...auditors].map(([id, length]) => ({ id, length })) }
  }

  /** The log's tree hash at `length`, from a proof of its last entry there. */
  private async treeHashAt(length: number): Promise<Uint8Array> {
    const a = await this.ask({ type: FrameType.LOG, vm: this.key, from: length - 1, to: length })
    if (a.type !== FrameType.LOG_OK) throw badAnswer()
    await this.preverifyProof(a.proof)
    this.proven(a.proof, length - 1, 1)
    const tree = new MerkleRoots(a.proof.roots, length - 1)
    tree.append(a.proof.entries[0]!)
    return tree.hash()
  }

  /**
   * Be told the log's length as it grows (the gateway's word until `log()`
   * proves it); `onError` if the watch could not start or its connection
   * closed. Returns a function that stops it.
   */
  watch(onLength: (length: number) => void, onError?: (err: Error) => void): () => void {
    const w = this.gateway.watch(this.key, onLength)
    w.ready.catch((err: Partial<Wire> & Error) => {
      this.gateway.unwatch(w.id)
      onError?.(err.wire ? fromWireError(err.wire) : err)
    })
    return () => this.gateway.unwatch(w.id)
  }

  /** The genesis, as proven by `info()`. */
  get genesis(): Genesis | null { return this.genesis_ }

  /** The signature checks at native speed, where the page has WebCrypto's Ed25519 (see fast-verify.ts). */
  private async preverifyReceipt(receipt: Receipt): Promise<void> {
    let signable: Uint8Array
    try { signable = receiptSignable(this.key, receipt) } catch { return } // malformed: the full check says why
    await preverify(signable, receipt.signature, receipt.signer, this.cache)
  }

  private async preverifyProof(proof: LogProof): Promise<void> {
    let signable: Uint8Array
    try { signable = logProofSignable(this.key, proof) } catch { return }
    await preverify(signable, proof.signature, proof.signer, this.cache)
  }

  private proven(proof: LogProof, from: number, count: number): LogEntry[] {
    if (proof.from !== from || proof.entries.length !== count) throw new VmsError('BAD_RECEIPT', `the gateway proved entries ${proof.from}..${proof.from + proof.entries.length - 1}, not ${from}..${from + count - 1}`)
    return verifyLogProof(this.key, proof, this.cache)
  }

  private async ask(req: Request): Promise<Answer> {
    try {
      return await this.gateway.request(req)
    } catch (err) {
      const wire = (err as Partial<Wire>).wire
      throw wire ? fromWireError(wire) : err
    }
  }
}

function badAnswer(): VmsError {
  return new VmsError('BAD_RECEIPT', 'the gateway answered with another kind of frame than asked')
}

/** Script methods as functions on the VM: `vm.RSVP(true)`. */
function withMethods(vm: Vm): Vm & Record<string, (...args: unknown[]) => Promise<unknown>> {
  return new Proxy(vm, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && !(prop in target) && prop !== 'then') return (...args: unknown[]) => target.call(prop, ...args)
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    }
  }) as Vm & Record<string, (...args: unknown[]) => Promise<unknown>>
}

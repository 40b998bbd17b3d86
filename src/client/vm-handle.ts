/**
 * A VM dialled by key: call its methods (signed, receipts checked), read its
 * files from the replicated archive, ask for its info. Calls go only to peers
 * that proved on this connection that they hold the VM's log key.
 */
import c, { type Encoding } from 'compact-encoding'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import Hyperdrive from 'hyperdrive'
import type Corestore from 'corestore'
import type Protomux from 'protomux'
import type { Channel, Message } from 'protomux'
import type { Connection } from 'hyperswarm'
import { VmsError, describe } from '../errors.js'
import { normalizeFilePath as normalizePath, shallowEntries } from '../files/entries.js'
import { sendBatched } from '../node/batched-send.js'
import { canonicalDecode, canonicalEncode } from '../canonical-json.js'
import { formatKey, type Identity } from '../identity.js'
import { checkWholeOption } from '../host/limits.js'
import { isSignerOf } from '../merkle.js'
import { verifyReceiptEntry, checkedAnswer, signedLength, ReceiptCache } from '../receipt.js'
import { decodeStrict, decodeEntry, encode, EntryType, scriptHash, type Receipt, type LogEntry, type FilesState, type Genesis, type SignedCall } from '../messages/index.js'
import {
  PROTOCOL, Role, hello, request, response, proofSignable, attestation, attestationSignable, attestationsRequest, attestationsResponse, verifyAttestation,
  viewRequest, viewResponse, blocksRequest, blocksResponse, filesStateRequest, filesStateResponse, upgradeRequest, upgradeResponse, fromWireError,
  type BlockCore, type BlocksResponse, type VmInfo, type Attestation, type ViewResponse, type FilesStateQuery, type FilesStateStatement, type FilesStateResponse, type UpgradeResponse
} from '../messages/wire.js'
import { verifyStatement } from '../audit/unlogged.js'
import { logProofOf } from '../merkle-core.js'
import { scriptInForce, withScriptChange } from './script-changed.js'
import type { LogProof } from '../messages/gateway.js'
import { versionSpans, ownersOf, type VersionSpan } from '../host/script-version.js'
import type Hypercore from 'hypercore'
import { addHeadExchange, type Equivocation } from '../node/head-exchange.js'

interface Route { channel: Channel; requests: Message<Uint8Array>; attest: Message<Uint8Array>; askAttestations: Message<Uint8Array>; views: Message<Uint8Array>; blocks: Message<Uint8Array>; filesState: Message<Uint8Array>; upgrade: Message<Uint8Array>; info: VmInfo; host: boolean }
interface Pending { resolve(v: { result: unknown; receipt: Receipt }): void; reject(e: Error): void; call: ReturnType<Identity['sign']>; route: Route; timer: NodeJS.Timeout }

export interface CallResult { result: unknown; receipt: Receipt }

/** What `info()` reads from the VM's signed log. */
export interface VmFacts {
  key: string
  trust: 'trustless' | 'trusted'
  /** Whether a proven host said it (else a mirror). */
  host: boolean
  /** Who may upgrade the script (caller ids); none: the VM is immutable. */
  owners: string[]
  /** The script version in force, and its hash. */
  version: number
  scriptHash: Uint8Array
  /** Every version, oldest first, with the entries it ran (from its genesis or upgrade entry to `to`). */
  history: VersionSpan[]
}

export class VmHandle {
  readonly key: Buffer
  private identity: Identity
  private store: Corestore
  private routes = new Set<Route>()
  private waiters: Array<() => void> = []
  private pending = new Map<number, Pending>()
  /** The receipts of one commit group share a signature: it is checked once. */
  private receiptCache = new ReceiptCache()
  private attestationWaiters = new Map<number, (list: Attestation[]) => void>()
  /** Answers awaited, by request id, with the route asked; given an error when the route or the handle closes first. */
  private viewWaiters = new Map<number, Waiter<ViewResponse>>()
  private stateWaiters = new Map<number, Waiter<FilesStateResponse>>()
  private upgradeWaiters = new Map<number, Waiter<UpgradeResponse>>()
  private blockWaiters = new Map<number, Waiter<BlocksResponse>>()
  private nextBlocks = 0
  private nextView = 0
  private log: Hypercore | null
  private ownsLog = false
  private nextId = 1
  private drive_: Hyperdrive | null = null
  private closed = false
  private onClose: () => void
  private refresh: () => void
  private onEquivocation: (e: Equivocation) => void
  readonly timeoutMs: number

  constructor(key: Buffer, opts: { identity: Identity; store: Corestore; timeoutMs: number; onClose: () => void; refresh?: () => void; log?: Hypercore; onEquivocation?: (e: Equivocation) => void }) {
    this.key = key
    this.log = opts.log ?? null
    this.identity = opts.identity
    this.store = opts.store
    this.timeoutMs = opts.timeoutMs
    this.onClose = opts.onClose
    this.refresh = opts.refresh ?? (() => {})
    this.onEquivocation = opts.onEquivocation ?? (() => {})
  }

  /** Open this VM's channel on a connection (called by the node for every connection). */
  attach(mux: Protomux, conn: Connection): void {
    if (this.closed || mux.opened({ protocol: PROTOCOL, id: this.key })) return
    let route: Route | null = null
    const channel = mux.createChannel({
      protocol: PROTOCOL,
      id: this.key,
      handshake: c.raw,
      onopen: (raw: Uint8Array) => {
        let h
        try {
          h = decodeStrict(hello, raw, 'hello')
        } catch {
          channel!.close()
          return
        }
        if (!h.info) return
        // Only a peer that signs this connection's handshake hash with the log key is the host.
        // Mirrors serve info and files; calls go to the host alone.
        let host = false
        if (h.role === Role.HOST) {
          if (!h.signer || !h.proof || !isSignerOf(this.key, h.signer) || !crypto.verify(proofSignable(conn.handshakeHash, this.key), h.proof, h.signer)) return
          host = true
        } else if (h.role !== Role.MIRROR) return
        route = { channel: channel!, requests, attest, askAttestations, views, blocks, filesState, upgrade, info: h.info, host }
        heads.sendHead().catch(() => {})
        this.routes.add(route)
        for (const w of this.waiters.splice(0)) w()
      },
      onclose: () => {
        if (!route) return
        this.routes.delete(route)
        if (this.routes.size === 0 && !this.closed) this.refresh()
        for (const [id, p] of this.pending) {
          if (p.route !== route) continue
          this.pending.delete(id)
          clearTimeout(p.timer)
          p.reject(new VmsError('CONNECTION_LOST', 'the connection to the host dropped before the answer came: the call may or may not have run; check the log, or sign and send it again'))
        }
        for (const waiters of [this.viewWaiters, this.blockWaiters, this.stateWaiters, this.upgradeWaiters] as Array<Map<number, Waiter<never>>>) {
          for (const [id, w] of waiters) {
            if (w.route !== route) continue
            waiters.delete(id)
            w.settle(new VmsError('CONNECTION_LOST', 'the connection to the peer dropped before it answered: ask again'))
          }
        }
      }
    })
    if (!channel) return
    const requests = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => this.onResponse(raw) })
    const attest = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => this.onAttestations(raw) })
    const askAttestations = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    const heads = addHeadExchange(channel, this.key, this.log, this.onEquivocation)
    const views = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { if (route) settle(this.viewWaiters, viewResponse, raw, 'view response', route) } })
    const blocks = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { if (route) settle(this.blockWaiters, blocksResponse, raw, 'blocks', route) } })
    const filesState = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { if (route) settle(this.stateWaiters, filesStateResponse, raw, 'files state', route) } })
    const upgrade = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
    channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { if (route) settle(this.upgradeWaiters, upgradeResponse, raw, 'upgrade', route) } })
    channel.open(encode(hello, { role: Role.CLIENT, signer: null, proof: null, info: null }))
  }

  /** Wait until a peer that holds this VM (a proven host, or with `host: false` also a mirror) is reachable. */
  async connected(timeoutMs = this.timeoutMs, { host = false } = {}): Promise<void> {
    const ready = () => [...this.routes].some((r) => r.host || !host)
    if (ready()) return
    // Look the topic up again now and then: a host that came back has a new address.
    const again = setInterval(() => this.refresh(), 2000)
    try {
      await new Promise<void>((resolve, reject) => {
        const mirrors = () => [...this.routes].filter((r) => !r.host).length
        const timer = setTimeout(() => reject(new VmsError('HOST_OFFLINE', mirrors() > 0
          ? `the host of VM ${formatKey(this.key)} is offline (${mirrors()} mirror${mirrors() > 1 ? 's' : ''} reachable: files and info still work; calls need the host)`
          : `no host of VM ${formatKey(this.key)} answered within ${timeoutMs} ms: is it being served, and are you on the same DHT (--bootstrap)?`)), timeoutMs)
        const check = () => { if (ready()) { clearTimeout(timer); resolve() } else this.waiters.push(check) }
        this.waiters.push(check)
      })
    } finally {
      clearInterval(again)
    }
  }

  /**
   * What the VM is: its methods and views (as the peer said when the channel
   * opened), and from its signed log the files key, the oracles (so the trust
   * mode), the governance (owners; none: immutable) and the script versions
   * with the entries each ran.
   */
  async info(): Promise<VmInfo & VmFacts> {
    await this.connected()
    const route = this.route(false)
    const { info } = route
    // The hello's length is as of the connection: the log may have grown since (this handle's own calls among it).
    if (this.log) await this.log.update({ wait: true }).catch(() => {})
    const length = Math.max(info.length, this.seenLength, this.log?.length ?? 0)
    // The files key and the oracles (so the trust mode) are the genesis', signed in the log: not what a peer's hello says.
    const genesis = await this.genesis()
    const log = await this.logReplica()
    const history = await versionSpans((i) => this.entryAt(log, i), genesis, info.script?.at ?? 0, length)
    const current = history[history.length - 1]!
    return {
      ...info, filesKey: genesis.filesKey, oracles: genesis.oracles, length, key: formatKey(this.key), trust: genesis.oracles.length === 0 ? 'trustless' : 'trusted', host: route.host,
      owners: ownersOf(genesis).map(formatKey), version: current.version, scriptHash: current.hash, history
    }
  }

  /** The longest log this handle saw signed (in receipts). */
  private seenLength = 0

  /** `handle.METHOD(...args)`: a view if the script marks METHOD as one, else a logged call. */
  async invoke(method: string, ...args: unknown[]): Promise<unknown> {
    if (typeof method !== 'string' || method === '') throw new VmsError('MALFORMED_REQUEST', `the method must be a name (a string), not ${describe(method)}`)
    await this.connected()
    const info = this.route(false).info
    if (info.views.includes(method)) return (await this.view(method, ...args)).result
    return this.call(method, ...args)
  }

  /** Call `method(...args)`: signed by this node's identity; resolves once the receipt verifies. */
  async call(method: string, ...args: unknown[]): Promise<unknown> {
    return (await this.callWithReceipt(method, ...args)).result
  }

  async callWithReceipt(method: string, ...args: unknown[]): Promise<CallResult> {
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    if (typeof method !== 'string' || method === '') throw new VmsError('MALFORMED_REQUEST', `the method must be a name (a string), not ${describe(method)}`)
    await this.connected(this.timeoutMs, { host: true })
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    const route = this.route(true)
    // Pinned to the version this handle saw in force first (the host's hello), until the app repins.
    if (this.pinned === undefined) this.pinned = route.info.script ? { version: route.info.script.version, hash: route.info.script.hash, methods: route.info.methods } : null
    return this.sendTo(route, this.identity.sign(this.key, method, args, this.pinned ? { scriptHash: this.pinned.hash } : {}))
  }

  /**
   * Send a call signed elsewhere (a web page's, relayed by a gateway) to the
   * host; its answer is checked as this handle's own calls' are. Unpinned
   * by this handle: the call carries its signer's pin, if any.
   */
  async send(call: SignedCall): Promise<CallResult> {
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    await this.connected(this.timeoutMs, { host: true })
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    return this.sendTo(this.route(true), call)
  }

  private sendTo(route: Route, call: SignedCall): Promise<CallResult> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new VmsError('TIMEOUT', `${call.method} got no answer within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.pending.set(id, { resolve, reject, call, route, timer })
      sendBatched(route.channel, route.requests, encode(request, { id, call }))
    })
  }

  /**
   * The script version this handle's calls are pinned to (signed for): the
   * one in force when it first reached the host, until `repin()` or `pin()`.
   * A call the host refuses because the script changed rejects with
   * SCRIPT_CHANGED and `err.script` = { version, hash, methods, added, removed }: the
   * app decides, and repins to go on.
   */
  get script(): { version: number; hash: Uint8Array; methods: string[] } | null {
    return this.pinned ? { version: this.pinned.version, hash: this.pinned.hash, methods: this.pinned.methods.slice() } : null
  }

  /**
   * Pin calls to the script version with this hash (null: unpinned, they run
   * on whatever is in force). `seen`: its number and methods, as the app last
   * saw them (SCRIPT_CHANGED then says what was added and removed since).
   */
  pin(hash: Uint8Array | null, seen: { version?: number; methods?: string[] } = {}): void {
    if (hash !== null && !(hash instanceof Uint8Array && hash.byteLength === 32)) throw new VmsError('MALFORMED_REQUEST', `a script version is its 32-byte hash, not ${describe(hash)}`)
    this.pinned = hash ? { version: seen.version ?? 0, hash, methods: seen.methods?.slice() ?? [] } : null
  }

  /** Pin calls to the version in force, as the host last said (after SCRIPT_CHANGED), or its hello. */
  async repin(): Promise<{ version: number; hash: Uint8Array }> {
    if (!this.latest) {
      await this.connected(this.timeoutMs, { host: true })
      const s = this.route(true).info.script
      if (!s) throw new VmsError('HOST_OFFLINE', 'the host did not say which script version is in force')
      this.latest = { version: s.version, hash: s.hash, methods: this.route(true).info.methods }
    }
    this.pinned = this.latest
    this.latest = null
    return { version: this.pinned.version, hash: this.pinned.hash }
  }

  private pinned: { version: number; hash: Uint8Array; methods: string[] } | null | undefined = undefined
  /** The version in force as the host said it when it refused a pinned call. */
  private latest: { version: number; hash: Uint8Array; methods: string[] } | null = null

  /** A SCRIPT_CHANGED answer: what is in force now, and what changed against the pinned version. */
  private scriptChanged(err: VmsError): VmsError {
    const now = scriptInForce(err)
    if (!now) return err
    this.latest = now
    return withScriptChange(err, now, this.pinned?.methods ?? [])
  }

  /**
   * Upgrade the VM's script to `script`, signed by this node's identity (one
   * of the VM's owners): the host runs it (init, migrate) and logs it, or
   * refuses it (NOT_ALLOWED, UPGRADE_FAILED, ...). Resolves once the upgrade
   * entry's receipt verifies; this handle then pins its calls to the new version.
   */
  async upgrade(script: string, opts: { filename?: string } = {}): Promise<{ version: number; hash: Uint8Array; index: number; added: string[]; removed: string[]; receipt: Receipt }> {
    const u = this.identity.signUpgrade(this.key, script, opts)
    const res = await this.ask(this.upgradeWaiters, 0, this.timeoutMs, 'the upgrade',
      (route, id) => route.upgrade.send(encode(upgradeRequest, { id, upgrade: u })), { host: true })
    const check = (receipt: Receipt, version: number | null) => {
      const entry = verifyReceiptEntry(this.key, receipt, this.receiptCache)
      if (entry.type !== EntryType.UPGRADE || !b4a.equals(entry.signature, u.signature) || entry.script !== script || entry.filename !== u.filename || (version !== null && entry.version !== version)) {
        throw new VmsError('BAD_RECEIPT', 'the upgrade\'s receipt names another entry than this upgrade: the host is faulty')
      }
      return entry
    }
    if (res.error) {
      // Logged all the same (DURABILITY_TIMEOUT): the error carries the entry's receipt, checked as an answer's.
      const err = fromWireError(res.error)
      if (res.receipt) check(res.receipt, null)
      throw res.receipt ? Object.assign(err, { receipt: res.receipt }) : err
    }
    check(res.receipt!, res.version)
    const hash = scriptHash(script)
    const before = this.pinned?.methods ?? [...this.routes].find((r) => r.host)?.info.methods ?? []
    this.pinned = { version: res.version, hash, methods: [...before.filter((m) => !res.removed.includes(m)), ...res.added].sort() }
    this.latest = null
    return { version: res.version, hash, index: res.receipt!.index, added: res.added, removed: res.removed, receipt: res.receipt! }
  }

  /** A connected host (or, unless `host`, any peer with the VM; hosts first). */
  private route(host: boolean): Route {
    let any: Route | null = null
    for (const r of this.routes) {
      if (r.host) return r
      any = any ?? r
    }
    if (!any || host) throw new VmsError('HOST_OFFLINE', `no host of VM ${formatKey(this.key)} is connected`)
    return any
  }

  /**
   * Run `method(...args)` read-only against the latest files state a peer
   * holds — the host or any mirror, in turn, so reads scale with volunteers.
   * Nothing is logged and any write throws EROFS. Resolves with the result
   * and the log length whose files state it read.
   */
  async view(method: string, ...args: unknown[]): Promise<{ result: unknown; length: number }> {
    if (typeof method !== 'string' || method === '') throw new VmsError('MALFORMED_REQUEST', `the view must be a name (a string), not ${describe(method)}`)
    const encoded = canonicalEncode(args, 64 * 1024)
    const res = await this.ask(this.viewWaiters, this.nextView++, this.timeoutMs, `the view ${method}`,
      (route, id) => route.views.send(encode(viewRequest, { id, method, args: encoded, caller: this.identity.publicKey })))
    if (res.error) throw fromWireError(res.error)
    try {
      return { result: canonicalDecode(res.value), length: res.length }
    } catch {
      throw new VmsError('MALFORMED_REQUEST', `the view ${method} was answered with a value that is not JSON: the peer is faulty`)
    }
  }

  /**
   * Blocks `start`..`end`-1 of the VM's log or files hyperbee, as one peer
   * (the host or a mirror, in turn) holds them: consecutive from `start`, as
   * many as fit one answer, maybe none. Unverified: check them against the
   * core's signed tree before use (`BlockFeed` does).
   */
  async blocks(core: BlockCore, start: number, end: number, timeoutMs = this.timeoutMs): Promise<Uint8Array[]> {
    const res = await this.ask(this.blockWaiters, this.nextBlocks++, timeoutMs, `blocks ${start}–${end - 1}`,
      (route, id) => route.blocks.send(encode(blocksRequest, { id, core, start, end })))
    if (res.error) throw fromWireError(res.error)
    if (res.start !== start) throw new VmsError('MALFORMED_REQUEST', `asked for blocks from ${start}, answered from ${res.start}: the peer is faulty`)
    return res.blocks
  }

  /**
   * The host's signed statement of what its log commits to, for a query that
   * names the archive heads this node holds (an auditor's check of files past
   * the log; see audit/unlogged.ts). Checked against the VM key: BAD_SIGNATURE
   * if the host's signature does not verify. The host answers once the
   * commits under way when it got the query are finished.
   */
  async filesState(query: FilesStateQuery, timeoutMs = this.timeoutMs): Promise<FilesStateStatement> {
    const res = await this.ask(this.stateWaiters, 0, timeoutMs, 'the files state request',
      (route, id) => route.filesState.send(encode(filesStateRequest, { id, query })), { host: true })
    if (res.error) throw fromWireError(res.error)
    if (!res.statement || !verifyStatement(this.key, query, res.statement)) throw new VmsError('BAD_SIGNATURE', 'the host\'s statement of its files state is not signed by this VM\'s key')
    return res.statement
  }

  /**
   * Send a request to the peers of this VM in turn (`turn` picks one; with
   * `host`, among proven hosts only) and wait for its answer: TIMEOUT after
   * `timeoutMs`, CONNECTION_LOST if that peer goes first, CLOSED if this handle does.
   */
  private async ask<T>(waiters: Map<number, Waiter<T>>, turn: number, timeoutMs: number, what: string, send: (route: Route, id: number) => void, { host = false } = {}): Promise<T> {
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    await this.connected(timeoutMs, { host })
    if (this.closed) throw new VmsError('CLOSED', 'this VM handle is closed')
    const routes = [...this.routes].filter((r) => r.host || !host)
    const route = routes[turn % routes.length]!
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { waiters.delete(id); reject(new VmsError('TIMEOUT', `${what} got no answer within ${timeoutMs} ms`)) }, timeoutMs)
      waiters.set(id, { route, settle: (res) => { clearTimeout(timer); if (res instanceof VmsError) reject(res); else resolve(res) } })
      send(route, id)
    })
  }

  /** As an auditor: tell the peers of this VM that entries 0..length-1, with this tree hash, checked out. */
  attest(length: number, treeHash: Uint8Array): Attestation {
    const body = { auditor: this.identity.publicKey, vmKey: this.key, length, treeHash, time: Date.now() }
    const a: Attestation = { ...body, signature: crypto.sign(attestationSignable(body), this.identity.secretKey) }
    const raw = encode(attestation, a)
    for (const r of this.routes) r.attest.send(raw)
    return a
  }

  /**
   * How many distinct auditors vouch for the entry a receipt names: each
   * attestation must be signed, cover the entry, and match this node's own
   * replica of the log (same tree hash at its length, the receipt's entry at
   * its index) — so a host cannot pass off auditors of another history.
   */
  async vouchers(receipt: Receipt, timeoutMs = 2000): Promise<{ count: number; auditors: string[] }> {
    if (!receipt || typeof receipt !== 'object' || !Number.isSafeInteger(receipt.index) || !(receipt.entry instanceof Uint8Array)) {
      throw new VmsError('BAD_RECEIPT', 'vouchers takes a receipt, as a call answers it (callWithReceipt(...).receipt)')
    }
    checkWholeOption('timeoutMs', timeoutMs, 1)
    const all = await this.collectAttestations(timeoutMs)
    const log = this.log
    if (!log) return { count: 0, auditors: [] }
    const auditors = new Set<string>()
    const hashes = new Map<number, Buffer>()
    for (const a of all) {
      if (!b4a.equals(a.vmKey, this.key) || a.length <= receipt.index || !verifyAttestation(a)) continue
      try {
        if (log.length < a.length) await log.update({ wait: true })
        if (log.length < a.length) continue
        let h = hashes.get(a.length)
        if (!h) hashes.set(a.length, h = await log.treeHash(a.length))
        if (!b4a.equals(h, a.treeHash)) continue
        const entry = await log.get(receipt.index, { timeout: timeoutMs })
        if (!entry || !b4a.equals(entry, receipt.entry)) continue
        auditors.add(formatKey(a.auditor))
      } catch {}
    }
    return { count: auditors.size, auditors: [...auditors] }
  }

  /**
   * The attestations the peers of this VM hold (auditors' signed "entries
   * 0..length-1 checked out"), as they sent them: each must still be checked
   * (`verifyAttestation`, and its tree hash against the log), as `vouchers` does.
   */
  attestations(timeoutMs = 2000): Promise<Attestation[]> {
    checkWholeOption('timeoutMs', timeoutMs, 1)
    return this.collectAttestations(timeoutMs)
  }

  /**
   * Log entries [from, to) (to at most the log's length), proven under the
   * log's latest signed head: anyone holding the VM key checks them with
   * `verifyLogProof`. Fetched from the host or mirrors as needed.
   */
  async logProof(from: number, to: number): Promise<LogProof> {
    checkWholeOption('from', from, 0)
    checkWholeOption('to', to, 1)
    const log = await this.logReplica()
    await log.update({ wait: true }).catch(() => {})
    return logProofOf(log, from, to, this.timeoutMs)
  }

  /** Call `onLength(length)` each time the log this handle sees grows (looked for every `everyMs`, and as peers announce it). Returns a function that stops it. */
  watchLength(onLength: (length: number) => void, everyMs = 1000): () => void {
    let stopped = false
    let last = -1
    let log: Hypercore | null = null
    const check = () => {
      if (stopped || !log) return
      if (log.length > last) { last = log.length; onLength(last) }
    }
    const poll = setInterval(() => { log?.update({ wait: true }).then(check, () => {}) }, everyMs)
    this.logReplica().then((l) => {
      if (stopped) return
      log = l
      l.on('append', check)
      l.update({ wait: true }).then(check, check)
    }, () => {})
    const stop = () => {
      stopped = true
      clearInterval(poll)
      log?.off('append', check)
    }
    this.watchers.add(stop)
    return () => { this.watchers.delete(stop); stop() }
  }

  private watchers = new Set<() => void>()

  private collectAttestations(timeoutMs: number): Promise<Attestation[]> {
    const routes = [...this.routes]
    if (routes.length === 0) return Promise.resolve([])
    return new Promise((resolve) => {
      const got: Attestation[] = []
      let waiting = routes.length
      const id = this.nextId++
      const done = () => { clearTimeout(timer); this.attestationWaiters.delete(id); resolve(got) }
      const timer = setTimeout(done, timeoutMs)
      this.attestationWaiters.set(id, (list) => { got.push(...list); if (--waiting === 0) done() })
      for (const r of routes) r.askAttestations.send(encode(attestationsRequest, { id }))
    })
  }

  private onAttestations(raw: Uint8Array): void {
    try {
      const res = decodeStrict(attestationsResponse, raw, 'attestations')
      this.attestationWaiters.get(res.id)?.(res.list)
    } catch {}
  }

  private onResponse(raw: Uint8Array): void {
    let res
    try {
      res = decodeStrict(response, raw, 'response')
    } catch {
      return
    }
    const p = this.pending.get(res.id)
    if (!p) return
    this.pending.delete(res.id)
    clearTimeout(p.timer)
    if (res.error && !res.receipt) {
      const err = fromWireError(res.error)
      p.reject(err.code === 'SCRIPT_CHANGED' ? this.scriptChanged(err) : err)
      return
    }
    let result: unknown
    try {
      result = checkedAnswer(this.key, p.call, res.receipt!, res.error, res.error ? null : res.value, this.receiptCache)
    } catch (err) {
      // (A checked error, with its receipt, counts for the length seen, as a result does.)
      if ((err as { receipt?: Receipt }).receipt === res.receipt) this.seenLength = Math.max(this.seenLength, signedLength(res.receipt!))
      p.reject(err as Error)
      return
    }
    this.seenLength = Math.max(this.seenLength, signedLength(res.receipt!))
    p.resolve({ result, receipt: res.receipt! })
  }

  /** The VM's files archive, read-only, replicated from whichever peers have it. */
  get files(): VmFiles {
    return new VmFiles(this)
  }

  /**
   * The files state the log's latest entry commits to (the genesis' for a
   * new VM): what readers see, never files past it, which no entry accounts
   * for. Read from this node's replica of the log (its blocks are checked
   * against the host's signature).
   */
  async committedFiles(): Promise<FilesState> {
    const log = await this.logReplica()
    await log.update({ wait: true }).catch(() => {})
    if (log.length === 0) throw new VmsError('HOST_OFFLINE', `no peer has sent VM ${formatKey(this.key)}'s log yet: is the host or a mirror online?`)
    return (await this.entryAt(log, log.length - 1)).files
  }

  private async logReplica(): Promise<Hypercore> {
    if (this.log) return this.log
    await this.connected()
    this.log = this.store.get({ key: this.key })
    this.ownsLog = true
    await this.log.ready()
    return this.log
  }

  private async entryAt(log: Hypercore, index: number): Promise<LogEntry> {
    const block = await log.get(index, { timeout: this.timeoutMs }).catch(() => null)
    if (!block) throw new VmsError('HOST_OFFLINE', `log entry ${index} of VM ${formatKey(this.key)} did not arrive within ${this.timeoutMs} ms: is the host or a mirror online?`)
    return decodeEntry(block, index)
  }

  /**
   * The archive must be, at the lengths `files` names, the trees the log's
   * entry commits to (hypercore checks each block against the archive's own
   * signed tree; this ties that tree to the log). FILES_TAMPERED otherwise.
   * Checked once per files state and fork.
   */
  async checkArchive(drive: Hyperdrive, files: FilesState): Promise<void> {
    const db = drive.db.core
    const blobs = (await drive.getBlobs()).core
    const id = `${files.dbLength}:${db.fork}:${files.blobsLength}:${blobs.fork}`
    if (id === this.checkedFiles) return
    const treeHash = async (core: Hypercore, length: number): Promise<Uint8Array | null> => {
      if (length === 0) return core.treeHash(0)
      if (core.length < length) await core.update({ wait: true }).catch(() => {})
      if (core.length < length) return null
      return core.treeHash(length).catch(() => null)
    }
    const [dbHash, blobsHash] = await Promise.all([treeHash(db, files.dbLength), treeHash(blobs, files.blobsLength)])
    if (!dbHash || !blobsHash) throw new VmsError('HOST_OFFLINE', `VM ${formatKey(this.key)}'s files archive is not replicated up to what its log commits to (${files.dbLength} entries, ${files.blobsLength} blocks): is the host or a mirror online?`)
    if (!b4a.equals(dbHash, files.dbTreeHash) || !b4a.equals(blobsHash, files.blobsTreeHash)) {
      throw new VmsError('FILES_TAMPERED', `VM ${formatKey(this.key)}'s files archive is not what its log commits to (its ${!b4a.equals(dbHash, files.dbTreeHash) ? 'hyperbee' : 'contents'} differs at that length): the host changed files outside its log; audit it (vms-node audit KEY --report FILE)`)
    }
    this.checkedFiles = id
  }

  private checkedFiles = ''

  /** The VM's genesis (log entry 0, checked against the host's signature as it replicates). */
  async genesis(): Promise<Genesis> {
    if (this.genesis_) return this.genesis_
    const genesis = await this.entryAt(await this.logReplica(), 0)
    if (genesis.type !== EntryType.GENESIS) throw new VmsError('MALFORMED_ENTRY', `log entry 0 of VM ${formatKey(this.key)} is not a genesis: the host is faulty`)
    return (this.genesis_ = genesis)
  }

  private genesis_: Genesis | null = null

  async drive(): Promise<Hyperdrive> {
    if (this.drive_) return this.drive_
    // The archive the genesis names (signed in the log), not whatever a peer's hello says.
    const genesis = await this.genesis()
    const drive = new Hyperdrive(this.store.session(), b4a.from(genesis.filesKey)) // a session: closing the drive closes it alone
    await drive.ready()
    this.drive_ = drive
    return drive
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const stop of this.watchers) stop()
    this.watchers.clear()
    for (const r of this.routes) r.channel.close()
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new VmsError('CLOSED', 'the VM handle closed')) }
    this.pending.clear()
    for (const waiters of [this.viewWaiters, this.blockWaiters, this.stateWaiters, this.upgradeWaiters] as Array<Map<number, Waiter<never>>>) {
      for (const w of waiters.values()) w.settle(new VmsError('CLOSED', 'the VM handle closed'))
      waiters.clear()
    }
    if (this.drive_) await this.drive_.close()
    if (this.ownsLog) await this.log?.close()
    this.onClose()
  }
}

interface Waiter<T> { route: Route; settle(res: T | VmsError): void }

/**
 * Hand an answer to whoever waits for its id, if it came from the peer that
 * was asked; one that does not decode, or that nobody there waits for, is dropped.
 */
function settle<T extends { id: number }>(waiters: Map<number, Waiter<T>>, enc: Encoding<T>, raw: Uint8Array, what: string, from: Route): void {
  let res: T
  try { res = decodeStrict(enc, raw, what) } catch { return }
  const w = waiters.get(res.id)
  if (w && w.route === from) { waiters.delete(res.id); w.settle(res) }
}

/** A path as given to the files API, normalised (`..` cannot climb above `/`). */
function pathOf(path: unknown): string {
  if (typeof path !== 'string') throw new VmsError('MALFORMED_REQUEST', `a path must be a string, say '/rsvps', not ${describe(path)}`)
  return normalizePath(path)
}

/** Read-only view of a dialled VM's files. */
export class VmFiles {
  private handle: VmHandle
  constructor(handle: VmHandle) { this.handle = handle }

  /**
   * Run `fn` on the archive as the log's latest entry commits to it: a
   * checkout at that version, never the files past it (no entry accounts
   * for those: a commit under way, or files the host added outside its log).
   */
  private async committed<T>(fn: (drive: Hyperdrive) => Promise<T>): Promise<T> {
    const drive = await this.handle.drive()
    const files = await this.handle.committedFiles()
    await this.handle.checkArchive(drive, files)
    const checkout = drive.checkout(files.dbLength)
    try {
      await checkout.ready()
      return await fn(checkout)
    } finally {
      await checkout.close()
    }
  }

  async readdir(path: string): Promise<string[]> {
    path = pathOf(path)
    return this.committed(async (drive) => {
      const out: string[] = []
      for await (const [name] of shallowEntries(drive.db, path)) out.push(name)
      return out.sort()
    })
  }

  async readFile(path: string, encoding?: 'utf8'): Promise<Uint8Array | string> {
    path = pathOf(path)
    if (encoding !== undefined && encoding !== 'utf8') throw new VmsError('MALFORMED_REQUEST', `readFile reads bytes, or text with 'utf8', not ${describe(encoding)}`)
    if (path === '/') throw new VmsError('NOT_FOUND', '/ is the top directory of this VM\'s archive, not a file: list it (readdir, or `files KEY ls /`)')
    const data = await this.committed((drive) => drive.get(path, { wait: true, timeout: this.handle.timeoutMs }))
    if (data === null) {
      const isDir = (await this.stat(path))?.isDirectory === true
      throw new VmsError('NOT_FOUND', isDir ? `${path} is a directory in this VM's archive, not a file: list it (readdir, or \`files KEY ls ${path}\`)` : `${path} is not a file in this VM's archive`)
    }
    return encoding ? b4a.toString(data, 'utf8') : data
  }

  async stat(path: string): Promise<{ size: number; mtime: Date; isFile: boolean; isDirectory: boolean } | null> {
    path = pathOf(path)
    // The top directory always is (hyperdrive has no entry for it).
    if (path === '/') return { size: 0, mtime: new Date(0), isFile: false, isDirectory: true }
    return this.committed(async (drive) => {
      const entry = await drive.entry(path, { wait: true, timeout: this.handle.timeoutMs })
      if (entry) {
        const dir = entry.value.blob === null && entry.value.metadata?.directory === true
        return { size: entry.value.blob?.byteLength ?? 0, mtime: new Date(entry.value.metadata?.mtime ?? 0), isFile: !dir, isDirectory: dir }
      }
      for await (const _ of drive.readdir(path)) return { size: 0, mtime: new Date(0), isFile: false, isDirectory: true }
      return null
    })
  }

  async exists(path: string): Promise<boolean> {
    return (await this.stat(path)) !== null
  }

  /** The archive version the log's latest entry commits to (what reads see). */
  async version(): Promise<number> {
    return (await this.handle.committedFiles()).dbLength
  }

  /** Wait until the log commits to archive version `version` or later (a files version from a receipt's entry). */
  async waitFor(version: number, timeoutMs = this.handle.timeoutMs): Promise<void> {
    if (!Number.isSafeInteger(version) || version < 0) throw new VmsError('MALFORMED_REQUEST', `a files version is a whole number ≥ 0 (a receipt's entry has it: files.dbLength), not ${describe(version)}`)
    checkWholeOption('timeoutMs', timeoutMs, 1)
    const end = Date.now() + timeoutMs
    while ((await this.handle.committedFiles()).dbLength < version) {
      if (Date.now() > end) throw new VmsError('TIMEOUT', `the files archive did not reach version ${version} within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

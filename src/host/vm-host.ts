/**
 * VmHost: runs one VM. The path of a call:
 *   call() admits it (shape, method, args, signature, nonce) → queue →
 *   sandbox (one at a time, in order) → files view (pending writes) →
 *   group commit (drive, then log) → receipt → answer.
 * Execution of the next calls overlaps the commit of the previous ones;
 * calls that finish while a commit runs are committed together next.
 */
import ReadyResource from 'ready-resource'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import type Corestore from 'corestore'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { VmsError, describe, type VmsErrorCode } from '../errors.js'
import { isCanonical } from '../canonical-json.js'
import { formatKey, nonceTime, toKey } from '../identity.js'
import { SignaturePool } from '../crypto/signature-pool.js'
import {
  encode, logEntry, callSignable, upgradeSignable, scriptHash, EntryType, LoadReason, SANDBOX_API_VERSION, SANDBOX_API_VERSIONS, SEED_BYTES,
  type Genesis, type Limits, type Receipt, type SignedCall, type SignedUpgrade, type FilesState
} from '../messages/index.js'
import { SandboxProcess, type SandboxHooks } from '../sandbox/sandbox-process.js'
import { sandboxConfigFor } from '../sandbox/config.js'
import type { CallInput, RunResult, SandboxConfig } from '../sandbox/protocol.js'
import { FilesView } from '../files/files-view.js'
import { FilesWriter, type PreparedFiles } from '../files/files-writer.js'
import { RedoJournal, recoverFromJournal } from './redo-journal.js'
import { LogWriter, type LaidOut } from './log-writer.js'
import { genesisVersion, upgradeVersion, scriptAt, ownersOf, isOwner, type ScriptVersion } from './script-version.js'
import { entryOf, limitCode, storageReason, type CallAnswer, type CallItem, type LoadItem, type UpgradeItem, type UpgradeAnswer, type Item } from './pipeline-items.js'
import { filesStateSignable, type FilesStateQuery, type FilesStateStatement } from '../messages/wire.js'
import { CommitBoundary } from './commit-boundary.js'
import { runOracle } from './oracle-call.js'
import { heldByAPeer } from './durability.js'
import { METHOD_NAME, RESERVED_METHODS, checkWholeOption, resolveLimits } from './limits.js'
import { NonceWindow, noncesSince } from './nonce-window.js'
import { openVmCores, closeVmCores, readGenesis, lastFilesState, checkArchive, readEntry, redoJournalPath, type VmCores } from './vm-storage.js'

export interface VmHostOptions {
  /** The service script (required to create a VM; checked against the genesis on reopen). */
  script?: string
  /** A name for the script in error messages and the genesis. @default 'script.js' */
  filename?: string
  /** Limits fixed in the genesis at creation. @default DEFAULT_LIMITS */
  limits?: Partial<Limits>
  /**
   * Who may replace the script of a VM created here (fixed in its genesis):
   * these caller keys (ids, z-base-32 or hex, or bytes), any one of them. None
   * (the default for VmHost.create): the VM is immutable. A node's `host()`
   * defaults to its own identity; see the README for why.
   */
  owners?: Array<Uint8Array | string>
  /**
   * The sandbox API version a new VM is made with, fixed in its genesis (a
   * reopened VM keeps its own). 1: `readFile(path)` gives bytes; 2: the
   * DatArchive semantics NodeVMS scripts expect. @default SANDBOX_API_VERSION (2)
   */
  apiVersion?: number
  /** Calls admitted but not yet answered, beyond which call() fails with QUEUE_FULL. @default 1024 */
  maxQueue?: number
  /** Most calls handed to the sandbox at once. @default 128 */
  maxBatch?: number
  /**
   * Decoded blocks of the files archive kept in memory (~3 KB each when
   * full): room for a big directory's working set keeps puts off the disk.
   * @default 131072
   */
  filesCacheEntries?: number
  /** Where the script's console output goes. @default none */
  onLog?: (level: string, message: string) => void
  /**
   * When a call is answered: `'local'` once its entry is on this machine's
   * disk; `'mirror'` once at least one peer also holds it (so an answered call
   * survives the loss of this machine, not just of this process).
   * @default 'local'
   */
  durability?: 'local' | 'mirror'
  /** With `durability: 'mirror'`, how long to wait for a peer before answering DURABILITY_TIMEOUT. @default 10000 */
  durabilityTimeoutMs?: number
  /**
   * Oracles: effectful functions the script may call as `await System.oracles.NAME(...args)`.
   * Their names go into the genesis (the VM is then *trusted*, not trustless); each call's
   * inputs and outputs are logged, and replay returns the logged outputs. Values must be JSON.
   */
  oracles?: Record<string, (...args: any[]) => unknown>
  /** An oracle that takes longer fails (for the script) with ORACLE_TIMEOUT. @default 10000 */
  oracleTimeoutMs?: number
  /** Share one signature pool between many VMs (a node passes its own). @default one of its own */
  signatures?: SignaturePool
  /** Where sandbox processes come from (a node hands out warm spares). @default a new one each time */
  sandboxes?: (hooks: SandboxHooks) => SandboxProcess
  /**
   * Reopen without loading the script (a node reopening many VMs): no sandbox
   * and no load entry until the first call, which loads it first (a load
   * entry, reason restart), as a wake does. `methods` and `views`, as of the
   * last load, answer clients meanwhile. Ignored when creating a VM.
   */
  lazy?: { methods: string[]; views: string[]; /** the script version they are of (1 if not said): another version in force loads at once */ version?: number }
}



const utf8 = new TextEncoder()
const utf8d = new TextDecoder()

export type { CallAnswer, UpgradeAnswer }

/** The log's local user data key under which a host keeps the index of the upgrade in force. */
const SCRIPT_POINTER = 'vms-script'
/** Largest script an upgrade may bring (a connection carries it whole). */
const MAX_SCRIPT_BYTES = 4 * 1024 * 1024
const VM_FILENAME = /^[^\u0000-\u001f\u007f]{1,255}$/

export class VmHost extends ReadyResource {
  readonly storage: string | Corestore
  private opts: VmHostOptions
  private cores: VmCores | null = null
  private sandbox: SandboxProcess | null = null
  private view: FilesView | null = null
  private writer: FilesWriter | null = null
  private journal: RedoJournal | null = null
  private logWriter: LogWriter | null = null
  private nonces: NonceWindow | null = null
  private sandboxConfig: SandboxConfig | null = null
  private verifier: SignaturePool | null = null
  /** The script in force (version, hash, source, the entry that made it). */
  private current: ScriptVersion | null = null
  /** The owner keys the genesis names, checked when created. */
  private newOwners: Buffer[]

  genesis: Genesis | null = null
  /** Exported methods, as of the last load. */
  methods: string[] = []
  /** The methods the script marks as views (`exports.NAME.view = true`): never logged, run with view(). */
  views: string[] = []

  private admitted: Array<CallItem | UpgradeItem> = []
  /** Calls and upgrades in the order they were admitted: an upgrade runs after the calls before it. */
  private queue: Array<CallItem | UpgradeItem> = []
  private ready_: Item[] = []
  private inflight = 0
  private executing = false
  private committing: Promise<void> | null = null
  private wakeCommit: (() => void) | null = null
  private needsLoad: { reason: LoadReason; note: string } | null = null
  private lastTime = 0
  private failure: Error | null = null
  /** The latest commit boundary (see filesStatement). */
  private boundary: CommitBoundary | null = null
  private idle: Array<() => void> = []
  readonly maxQueue: number
  readonly maxBatch: number
  /** The limits a VM created here gets (checked before anything is opened); a reopened VM keeps its genesis's. */
  private newLimits: Limits

  constructor(storage: string | Corestore, opts: VmHostOptions = {}) {
    super()
    checkWholeOption('maxQueue', opts.maxQueue, 1)
    checkWholeOption('maxBatch', opts.maxBatch, 1)
    checkWholeOption('filesCacheEntries', opts.filesCacheEntries, 1)
    checkWholeOption('durabilityTimeoutMs', opts.durabilityTimeoutMs, 1)
    checkWholeOption('oracleTimeoutMs', opts.oracleTimeoutMs, 1)
    if (opts.apiVersion !== undefined && !SANDBOX_API_VERSIONS.includes(opts.apiVersion)) {
      throw new VmsError('BAD_OPTION', `apiVersion must be one of ${SANDBOX_API_VERSIONS.join(', ')} (the sandbox API versions this vms-node runs); not ${describe(opts.apiVersion)}`)
    }
    this.newLimits = resolveLimits(opts.limits)
    if (opts.owners !== undefined && !Array.isArray(opts.owners)) throw new VmsError('BAD_OPTION', `owners must be a list of caller keys (ids); not ${describe(opts.owners)}`)
    this.newOwners = (opts.owners ?? []).map((o) => {
      try { return toKey(o) } catch { throw new VmsError('BAD_OPTION', `an owner is a caller's key (its id, as vms-node whoami prints it); not ${describe(o)}`) }
    })
    if (this.newOwners.length > 64) throw new VmsError('BAD_OPTION', `at most 64 owners; not ${this.newOwners.length}`)
    // Under API 1, `migrate` is an ordinary method: an upgradable VM needs API 2, where it is the upgrade's step.
    if (this.newOwners.length > 0 && opts.apiVersion === 1) throw new VmsError('BAD_OPTION', 'an upgradable VM (owners) needs sandbox API version 2, where migrate runs at upgrades; API 1 is for VMs made before it')
    this.storage = storage
    this.opts = opts
    this.maxQueue = opts.maxQueue ?? 1024
    this.maxBatch = opts.maxBatch ?? 128
  }

  /** Create a VM in empty storage (or reopen the one there, if it runs the same script). */
  static async create(storage: string | Corestore, opts: VmHostOptions & { script: string }): Promise<VmHost> {
    const host = new VmHost(storage, opts)
    await host.ready()
    return host
  }

  /** Reopen the VM in this storage; appends a load entry and runs init. */
  static async open(storage: string | Corestore, opts: Omit<VmHostOptions, 'script' | 'limits'> = {}): Promise<VmHost> {
    const host = new VmHost(storage, opts)
    await host.ready()
    return host
  }

  /** The VM's key: its call log's public key. */
  get key(): Buffer { return this.cores!.log.key }
  get discoveryKey(): Buffer { return this.cores!.log.discoveryKey }
  get log(): Hypercore { return this.cores!.log }
  get drive(): Hyperdrive { return this.cores!.drive }
  get store(): Corestore { return this.cores!.store }
  get limits(): Limits { return this.genesis!.limits }
  /** How many sandbox processes were started (more than 1 after crashes). */
  get sandboxSpawns(): number { return this.pastSpawns + (this.sandbox?.spawns ?? 0) }
  private pastSpawns = 0

  /** The script in force: its version (1 for the genesis'), hash, source and file name, and the entry that made it (0: the genesis). */
  get script(): ScriptVersion { return this.current! }
  /** Who may upgrade the script (the genesis fixes it): their keys; none if the VM is immutable. */
  get owners(): Uint8Array[] { return ownersOf(this.genesis!) }

  /** The log and files archive, as `replay()` takes them. */
  logAndFiles(): { log: Hypercore; drive: Hyperdrive } {
    return { log: this.log, drive: this.drive }
  }

  protected override async _open(): Promise<void> {
    // Opened without a script, the storage must hold a VM already: nothing is made where none is.
    const cores = this.cores = await openVmCores(this.storage, { existing: typeof this.opts.script !== 'string', filesCacheEntries: this.opts.filesCacheEntries })
    this.verifier = this.opts.signatures ?? new SignaturePool()
    let lazy = cores.log.length > 0 ? this.opts.lazy ?? null : null
    try {
      if (!lazy) this.sandbox = this.newSandbox()
      let reason = LoadReason.RESTART
      let note = ''
      if (cores.log.length === 0) {
        reason = LoadReason.CREATE
        this.genesis = await this.writeGenesis()
      } else {
        this.genesis = await readGenesis(cores.log)
        if (!SANDBOX_API_VERSIONS.includes(this.genesis.apiVersion)) {
          throw new VmsError('STORAGE_INVALID', `this VM was made with sandbox API version ${this.genesis.apiVersion}, which this vms-node does not run (it runs ${SANDBOX_API_VERSIONS.join(' and ')}): upgrade vms-node`)
        }
      }
      this.journal = RedoJournal.open(redoJournalPath(cores))
      const genesis = this.genesis
      note = await recoverFromJournal(cores.log, cores.drive, this.journal, async (log) => (await lastFilesState(log, genesis)).files)
      this.current = await this.scriptInForce()
      if (this.opts.script !== undefined && this.opts.script !== this.current.script) {
        throw new VmsError('STORAGE_INVALID', `this storage holds a VM whose script (version ${this.current.version}) is another: open it without a script, or create the new VM in an empty directory` +
          (ownersOf(this.genesis).length > 0 ? '; to change its script, upgrade it as one of its owners (VmHost.upgrade, vms-node upgrade)' : ''), null, 'another-script')
      }
      const last = await lastFilesState(cores.log, this.genesis)
      this.lastTime = last.time
      this.writer = await FilesWriter.open(cores.drive)
      checkArchive(this.writer.state(), last.files, cores.log.length - 1)
      this.boundary = new CommitBoundary({ log: { length: cores.log.length, fork: cores.log.fork, treeHash: await cores.log.treeHash(cores.log.length) }, files: last.files })
      this.view = new FilesView(cores.drive, cores.drive.db.core.length)
      this.logWriter = await LogWriter.open(cores.log)
      this.nonces = new NonceWindow(this.genesis.limits.nonceWindowMs, this.genesis.limits.nonceSkewMs)
      await this.rebuildNonces()
      this.sandboxConfig = this.configFor(this.current)
      if (lazy && (lazy.version ?? 1) !== this.current.version) {
        // The methods known are another version's (an upgrade finished from the journal): load now.
        lazy = null
        this.sandbox = this.newSandbox()
      }
      if (lazy) {
        // Unloaded from the start: the first call loads the script, with this restart's note.
        this.methods = lazy.methods.slice()
        this.views = lazy.views.slice()
        this.unloaded = true
        this.needsLoad = { reason, note }
        this.journal.release()
      } else {
        const load = await this.load(reason, note)
        await this.commit([load])
      }
    } catch (err) {
      await this.sandbox?.close()
      if (!this.opts.signatures) await this.verifier.close()
      this.journal?.close()
      await closeVmCores(cores)
      throw err
    }
  }

  protected override async _close(): Promise<void> {
    // New calls are refused (admit checks `closing`); every call already admitted finishes.
    while (this.executing || this.committing || this.ready_.length > 0 || this.queue.length > 0 || this.inflight > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve))
    }
    await this.sandbox?.close()
    if (!this.opts.signatures) await this.verifier?.close()
    this.journal?.close()
    if (this.cores) await closeVmCores(this.cores)
  }

  private newSandbox(): SandboxProcess {
    const hooks: SandboxHooks = {
      read: (op, path, arg) => op === 'oracle'
        ? runOracle(this.opts.oracles?.[path], path, arg ?? '[]', { maxBytes: this.genesis!.limits.maxResultBytes, timeoutMs: this.opts.oracleTimeoutMs ?? 10000 })
        : this.view!.read(op, path, arg),
      log: (level, message) => this.opts.onLog?.(level, message)
    }
    return this.opts.sandboxes ? this.opts.sandboxes(hooks) : new SandboxProcess(hooks)
  }

  /** When the VM last admitted or answered a call (ms). */
  lastActive = Date.now()

  /** Whether the VM's script is loaded (its sandbox running). */
  get loaded(): boolean { return !this.unloaded }
  private unloaded = false

  /**
   * Unload an idle VM: stop its sandbox process (its memory goes with it).
   * The next call wakes it: a new sandbox, `init` again, and a load entry
   * (reason wake) before that call, so a replay sees what the host saw.
   * Returns false if the VM is busy.
   */
  async unload(): Promise<boolean> {
    if (this.unloaded || this.closing || this.executing || this.committing || this.inflight > 0 || this.queue.length > 0) return false
    this.unloaded = true
    const old = this.sandbox
    this.pastSpawns += old?.spawns ?? 0
    // No process while unloaded: the wake takes one (a node's warm spare).
    this.sandbox = null
    this.needsLoad = { reason: LoadReason.WAKE, note: 'woken after being unloaded while idle' }
    this.journal?.release()
    await old?.close()
    return true
  }

  /** What a sandbox loads to run script version `v` (with `migrateFrom`: an upgrade's load). */
  private configFor(v: ScriptVersion, migrateFrom?: number): SandboxConfig {
    return sandboxConfigFor({ ...this.genesis!, script: v.script, filename: v.filename }, migrateFrom === undefined ? {} : { migrateFrom })
  }

  /**
   * The script in force at reopen: the latest upgrade entry (its index is
   * kept in the log's local user data, written before the upgrade's entry is;
   * checked, and found by reading back if it is missing), else the genesis'.
   */
  private async scriptInForce(): Promise<ScriptVersion> {
    const log = this.cores!.log
    const genesis = this.genesis!
    if (ownersOf(genesis).length === 0) return genesisVersion(genesis)
    const kept = await log.getUserData(SCRIPT_POINTER)
    const at = kept && kept.byteLength === 4 ? kept.readUInt32LE(0) : 0
    // (An upgrade writes the pointer before anything of it is journaled: one that never made it leaves a pointer at no upgrade entry.)
    if (at > 0 && at < log.length) {
      const e = await readEntry(log, at)
      if (e.type === EntryType.UPGRADE) return upgradeVersion(e, at)
    }
    return scriptAt((i) => readEntry(log, i), genesis, log.length)
  }

  private async writeGenesis(): Promise<Genesis> {
    const script = this.opts.script
    if (typeof script !== 'string') throw new VmsError('STORAGE_INVALID', 'this storage holds no VM: pass a script to create one', null, 'no-vm')
    const filename = this.opts.filename ?? 'script.js'
    const limits = this.newLimits
    const syntax = await this.sandbox!.check(script, filename)
    if (syntax !== null) throw new VmsError('SCRIPT_INVALID', `${filename} does not compile: ${syntax}`)
    const cores = this.cores!
    const blobs = (await cores.drive.getBlobs()).core
    const files: FilesState = {
      dbLength: cores.drive.db.core.length,
      dbTreeHash: await cores.drive.db.core.treeHash(),
      blobsLength: blobs.length,
      blobsTreeHash: await blobs.treeHash()
    }
    // A dry run of the top level and init, on a view whose writes are thrown away.
    this.view = new FilesView(cores.drive, files.dbLength)
    const apiVersion = this.opts.apiVersion ?? SANDBOX_API_VERSION
    const oracles = Object.keys(this.opts.oracles ?? {}).sort()
    const dry = await this.sandbox!.load(sandboxConfigFor({ apiVersion, script, filename, limits, oracles }), Date.now(), crypto.randomBytes(SEED_BYTES))
    if (!dry.result.ok) {
      throw new VmsError('SCRIPT_INIT_FAILED', `${filename} failed to load: ${dry.result.error?.name}: ${dry.result.error?.message}`)
    }
    if (dry.methods.length === 0) throw new VmsError('SCRIPT_INVALID', `${filename} exports no methods: assign functions to exports.NAME`)
    const genesis: Genesis = {
      type: EntryType.GENESIS, governance: { owners: this.newOwners }, apiVersion, filename, script,
      filesKey: cores.drive.key, limits, oracles, time: Date.now(), files
    }
    await cores.log.append(encode(logEntry, genesis))
    return genesis
  }

  private async rebuildNonces(): Promise<void> {
    const horizon = Date.now() - this.genesis!.limits.nonceWindowMs - this.genesis!.limits.nonceSkewMs
    const log = this.cores!.log
    for await (const e of noncesSince((i) => readEntry(log, i), log.length, horizon)) this.nonces!.add(e.publicKey, e.nonce, e.time)
  }

  private clock(): number {
    const now = Date.now()
    if (now > this.lastTime) this.lastTime = now
    return this.lastTime
  }

  private async load(reason: LoadReason, note: string): Promise<LoadItem> {
    const time = this.clock()
    const seed = crypto.randomBytes(SEED_BYTES)
    let result: RunResult
    try {
      this.sandbox ??= this.newSandbox()
      const loaded = await this.sandbox.load(this.sandboxConfig!, time, seed)
      result = loaded.result
      this.methods = loaded.methods
      this.views = loaded.views
    } catch (err) {
      result = { ok: false, limit: true, value: '', error: { name: 'LimitError', code: 'SANDBOX_CRASHED', message: (err as Error).message }, ops: [], oracles: [] }
    }
    if (result.limit) this.needsLoad = { reason: LoadReason.RECYCLE, note: 'init hit a limit' }
    this.view!.apply(result.ops)
    return { kind: 'load', reason, note, time, seed, result }
  }

  /**
   * Execute a signed call. Resolves once its log entry and file writes are durable, with the
   * result and a receipt. Rejects before anything is logged for a malformed
   * request, an unknown or reserved method, bad args, a bad signature or
   * nonce, or a full queue; rejects after logging (with `err.receipt`) when
   * the script throws (CALL_FAILED) or hits a limit (TIMEOUT, MEMORY_LIMIT,
   * STACK_OVERFLOW, SANDBOX_CRASHED).
   */
  call(call: SignedCall): Promise<CallAnswer> {
    let item: CallItem
    try {
      item = this.admit(call)
    } catch (err) {
      return Promise.reject(err)
    }
    this.inflight++
    this.lastActive = Date.now()
    this.unloaded = false
    return new Promise<CallAnswer>((resolve, reject) => {
      item.resolve = resolve
      item.reject = reject
      const { vmKey, method, args, nonce, signature, publicKey, scriptHash } = item.call
      this.admitted.push(item)
      this.verifier!.verify(callSignable(vmKey, method, args, nonce, scriptHash), signature, publicKey).then((ok) => {
        item.verified = ok ? 1 : -1
        this.dequeueAdmitted()
      })
    })
  }

  /**
   * Replace the VM's script, as one of its owners (the genesis names them).
   * Checked before anything runs: the owner, the signature, the nonce. The
   * upgrade runs after the calls admitted before it: the new script loads in
   * a sandbox of its own (its `init`, then `migrate(fromVersion)` once if it
   * exports it, with write access), and only if that works is the upgrade
   * logged (an upgrade entry, with the new source and the owner's signature)
   * and the new script put in force for the calls after it. A script that
   * does not compile, or whose init or migrate fails, is refused with
   * UPGRADE_FAILED and never logged: the old script serves on, nothing changed.
   * Resolves once the upgrade entry is on disk.
   */
  upgrade(u: SignedUpgrade): Promise<UpgradeAnswer> {
    let item: UpgradeItem
    try {
      item = this.admitUpgrade(u)
    } catch (err) {
      return Promise.reject(err)
    }
    this.inflight++
    this.lastActive = Date.now()
    return new Promise<UpgradeAnswer>((resolve, reject) => {
      item.resolve = resolve
      item.reject = reject
      this.admitted.push(item)
      this.verifier!.verify(upgradeSignable(u.vmKey, scriptHash(u.script), u.nonce, u.filename), u.signature, u.owner).then((ok) => {
        item.verified = ok ? 1 : -1
        this.dequeueAdmitted()
      })
    })
  }

  private admitUpgrade(u: SignedUpgrade): UpgradeItem {
    if (!this.opened || this.closing) throw new VmsError('CLOSED', 'the VM is not open')
    if (this.failure) throw new VmsError('STORAGE_FAILED', `the VM stopped: ${storageReason(this.failure)}`)
    if (!u || typeof u !== 'object' || !isBytes(u.vmKey, 32) || !isBytes(u.owner, 32) || !isBytes(u.signature, 64) || !isBytes(u.nonce, 16) || typeof u.script !== 'string' || typeof u.filename !== 'string') {
      throw new VmsError('MALFORMED_REQUEST', 'an upgrade needs vmKey, script, filename, nonce, owner and signature: make it with Identity.signUpgrade()')
    }
    if (!b4a.equals(u.vmKey, this.key)) throw new VmsError('WRONG_VM', `the upgrade was signed for VM ${formatKey(u.vmKey)}, not ${formatKey(this.key)}`)
    const owners = ownersOf(this.genesis!)
    if (owners.length === 0) throw new VmsError('NOT_ALLOWED', `VM ${formatKey(this.key)} is immutable: its genesis names no owner, so its script never changes (for a new script, make a new VM)`)
    if (!isOwner(this.genesis!, u.owner)) throw new VmsError('NOT_ALLOWED', `${formatKey(u.owner)} is not an owner of VM ${formatKey(this.key)} (its owners: ${owners.map(formatKey).join(', ')})`)
    if (u.script.length === 0 || utf8.encode(u.script).byteLength > MAX_SCRIPT_BYTES) throw new VmsError('TOO_LARGE', `a script is 1 byte to ${MAX_SCRIPT_BYTES} bytes`)
    if (!VM_FILENAME.test(u.filename)) throw new VmsError('MALFORMED_REQUEST', 'the script\'s file name is 1 to 255 characters, no control characters')
    if (b4a.equals(scriptHash(u.script), this.current!.hash)) throw new VmsError('UPGRADE_FAILED', `VM ${formatKey(this.key)} runs this script already (version ${this.current!.version})`)
    if (this.inflight >= this.maxQueue) throw new VmsError('QUEUE_FULL', `${this.inflight} calls are waiting: retry later`)
    const bad = this.nonces!.check(u.owner, u.nonce, this.clock())
    if (bad) throw new VmsError('BAD_NONCE', bad)
    return { kind: 'upgrade', request: u, verified: 0, from: null, to: null, added: [], removed: [], time: 0, seed: EMPTY, result: null, resolve: noop, reject: noop }
  }

  /** Load the upgrade's script in a sandbox of its own; put it in force if that works (see upgrade()). */
  private async runUpgrade(it: UpgradeItem): Promise<void> {
    const from = this.current!
    const u = it.request
    // Waited past its nonce window (behind a long queue): refused, as a call is; an auditor would reject it.
    if (nonceTime(u.nonce) < this.clock() - this.genesis!.limits.nonceWindowMs) {
      this.inflight--
      it.reject(new VmsError('BAD_NONCE', 'the upgrade waited in the queue past its nonce window: sign it again'))
      return
    }
    const to: ScriptVersion = { version: from.version + 1, hash: scriptHash(u.script), script: u.script, filename: u.filename, index: -1 }
    const sandbox = this.newSandbox()
    const refuse = (why: string) => new VmsError('UPGRADE_FAILED', `${why}; version ${from.version} serves on, nothing changed`)
    let described: { methods: string[]; views: string[] }
    try {
      const syntax = await sandbox.check(u.script, u.filename)
      if (syntax !== null) throw refuse(`${u.filename} does not compile: ${syntax}`)
      it.time = this.clock()
      it.seed = crypto.randomBytes(SEED_BYTES)
      const loaded = await sandbox.load(this.configFor(to, from.version), it.time, it.seed)
      const res = loaded.result
      if (!res.ok) throw refuse(`${u.filename} failed to load (init or migrate): ${res.error?.name}: ${res.error?.message}`)
      if (loaded.methods.length === 0) throw refuse(`${u.filename} exports no methods`)
      described = { methods: loaded.methods, views: loaded.views }
      it.result = res
      it.from = from
      it.to = to
      it.added = loaded.methods.filter((m) => !this.methods.includes(m))
      it.removed = this.methods.filter((m) => !loaded.methods.includes(m))
    } catch (err) {
      await sandbox.close()
      this.inflight--
      it.reject(err instanceof VmsError ? err : refuse(`the sandbox failed: ${(err as Error).message}`))
      return
    }
    // In force from here: the calls after it run on the new script, in the sandbox that loaded it.
    this.view!.apply(it.result.ops)
    const old = this.sandbox
    this.pastSpawns += old?.spawns ?? 0
    this.sandbox = sandbox
    this.unloaded = false
    await old?.close()
    this.current = to
    this.sandboxConfig = this.configFor(to)
    this.methods = described.methods
    this.views = described.views
    this.ready_.push(it)
    this.kickCommit()
  }

  /** A pinned call for another version than the one in force: refused, never run. The new version rides in `remote`. */
  private scriptChanged(pin: Uint8Array): VmsError {
    const v = this.current!
    const hash = b4a.toString(v.hash, 'hex')
    return new VmsError('SCRIPT_CHANGED', `the call was signed for script ${b4a.toString(pin, 'hex').slice(0, 12)}…, and VM ${formatKey(this.key)} runs version ${v.version} (${hash.slice(0, 12)}…) now: sign it again for that version (or unpinned) if it still means the same`,
      { name: 'ScriptChanged', code: 'SCRIPT_CHANGED', message: `${hash} ${v.version} ${this.methods.join(',')}` })
  }

  /** Everything that can be checked without the signature, synchronously. */
  private admit(call: SignedCall): CallItem {
    if (!this.opened || this.closing) throw new VmsError('CLOSED', 'the VM is not open')
    if (this.failure) throw new VmsError('STORAGE_FAILED', `the VM stopped: ${storageReason(this.failure)}`)
    if (!call || typeof call !== 'object') throw new VmsError('MALFORMED_REQUEST', 'a call must be an object from Identity.sign()')
    const { vmKey, method, args, nonce, publicKey, signature } = call
    if (!isBytes(vmKey, 32) || !isBytes(publicKey, 32) || !isBytes(signature, 64) || !isBytes(nonce, 16) || !(args instanceof Uint8Array) || typeof method !== 'string') {
      throw new VmsError('MALFORMED_REQUEST', 'a call needs vmKey (32 bytes), method (string), args (bytes), nonce (16 bytes), publicKey (32 bytes) and signature (64 bytes)')
    }
    if (!b4a.equals(vmKey, this.key)) throw new VmsError('WRONG_VM', `the call was signed for VM ${formatKey(vmKey)}, not ${formatKey(this.key)}`)
    if (RESERVED_METHODS.has(method) || (method === 'migrate' && this.genesis!.apiVersion >= 2)) {
      throw new VmsError('RESERVED_METHOD', method === 'init' ? 'init is reserved: it runs at every load and cannot be called' : 'migrate is reserved: it runs once, when an upgrade loads the script, and cannot be called')
    }
    if (call.scriptHash !== undefined) {
      if (!isBytes(call.scriptHash, 32)) throw new VmsError('MALFORMED_REQUEST', 'a pinned call names its script version by its 32-byte hash')
      if (!b4a.equals(call.scriptHash, this.current!.hash)) throw this.scriptChanged(call.scriptHash)
    }
    if (this.views.includes(method)) throw new VmsError('VIEW_METHOD', `${method} is a view: run it read-only with view(); it is never logged`)
    if (!METHOD_NAME.test(method) || !this.methods.includes(method)) {
      throw new VmsError('UNKNOWN_METHOD', `${method.slice(0, 64)} is not a method of this VM (it has: ${this.methods.join(', ') || 'none'})`)
    }
    const limits = this.genesis!.limits
    if (args.byteLength > limits.maxArgsBytes) throw new VmsError('TOO_LARGE', `args are ${args.byteLength} bytes; this VM accepts at most ${limits.maxArgsBytes}`)
    if (!isCanonical(args, limits.maxArgsBytes) || args[0] !== 0x5b /* [ */) {
      throw new VmsError('MALFORMED_REQUEST', 'args must be the canonical JSON encoding of an array (sign with Identity.sign)')
    }
    if (this.inflight >= this.maxQueue) throw new VmsError('QUEUE_FULL', `${this.inflight} calls are waiting: retry later`)
    const bad = this.nonces!.check(publicKey, nonce, this.clock())
    if (bad) throw new VmsError('BAD_NONCE', bad)
    return {
      kind: 'call', call, argsText: utf8d.decode(args), callerId: formatKey(publicKey),
      time: 0, seed: EMPTY, suspect: false, result: null, verified: 0, resolve: noop, reject: noop
    }
  }

  /** Calls and upgrades queue in the order they arrived, whichever signature check finished first. */
  private dequeueAdmitted(): void {
    while (this.admitted.length > 0 && this.admitted[0]!.verified !== 0) {
      const next = this.admitted.shift()!
      this.enqueue(next, next.verified === 1)
    }
  }

  /** After the signature check: the nonce is taken now (a twin may have raced in), then the call or upgrade queues. */
  private enqueue(item: CallItem | UpgradeItem, signatureOk: boolean): void {
    const publicKey = item.kind === 'call' ? item.call.publicKey : item.request.owner
    const nonce = item.kind === 'call' ? item.call.nonce : item.request.nonce
    let err: VmsError | null = null
    if (!signatureOk) err = new VmsError('BAD_SIGNATURE', item.kind === 'call' ? 'the caller\'s signature does not verify: sign the call with the caller\'s secret key and this VM\'s key' : 'the owner\'s signature of the upgrade does not verify')
    else if (this.failure) err = new VmsError('STORAGE_FAILED', `the VM stopped: ${storageReason(this.failure)}`)
    else {
      const bad = this.nonces!.check(publicKey, nonce, this.clock())
      if (bad) err = new VmsError('BAD_NONCE', bad)
    }
    if (err) {
      this.inflight--
      item.reject(err)
      this.settle()
      return
    }
    this.nonces!.add(publicKey, nonce, this.clock())
    this.queue.push(item)
    if (!this.executing) this.execute()
  }

  private async execute(): Promise<void> {
    this.executing = true
    try {
      while (this.queue.length > 0 && !this.failure) {
        if (this.needsLoad) {
          const { reason, note } = this.needsLoad
          this.needsLoad = null
          this.ready_.push(await this.load(reason, note))
          this.kickCommit()
          continue
        }
        const head = this.queue[0]!
        if (head.kind === 'upgrade') {
          this.queue.shift()
          await this.runUpgrade(head)
          continue
        }
        const single = head.suspect
        // A batch stops at the next upgrade: the calls after it run on the new script.
        let n = 0
        while (n < this.queue.length && n < (single ? 1 : this.maxBatch) && this.queue[n]!.kind === 'call') n++
        const batch = this.queue.splice(0, n) as CallItem[]
        const now = this.clock()
        const runnable: CallItem[] = []
        const inputs: CallInput[] = []
        const seeds = crypto.randomBytes(SEED_BYTES * batch.length)
        for (const it of batch) {
          // A call that waited past its nonce window is refused, not logged: an auditor would reject it.
          if (nonceTime(it.call.nonce) < now - this.genesis!.limits.nonceWindowMs) {
            this.inflight--
            it.reject(new VmsError('BAD_NONCE', 'the call waited in the queue past its nonce window: sign it again'))
            continue
          }
          // A pinned call queued behind an upgrade is refused, not run on a script it was not signed for.
          if (it.call.scriptHash && !b4a.equals(it.call.scriptHash, this.current!.hash)) {
            this.inflight--
            it.reject(this.scriptChanged(it.call.scriptHash))
            continue
          }
          it.time = now
          it.seed = seeds.subarray(runnable.length * SEED_BYTES, (runnable.length + 1) * SEED_BYTES)
          runnable.push(it)
          inputs.push({ method: it.call.method, args: it.argsText, callerId: it.callerId, time: now, seed: it.seed })
        }
        if (runnable.length === 0) continue
        let got = 0
        let recycled = false
        try {
          ({ recycled } = await this.sandbox!.run(inputs, this.genesis!.limits.timeoutMs, (results) => {
            for (const r of results) {
              const it = runnable[got++]!
              it.result = r
              this.view!.apply(r.ops)
              this.ready_.push(it)
            }
            this.kickCommit()
          }))
        } catch (err) {
          // The sandbox process died. Calls it had not reported are run again one
          // by one after a load; one that brings it down alone is failed.
          const rest = runnable.slice(got)
          if ((single || runnable.length === 1) && rest.length > 0) {
            const it = rest.shift()!
            it.result = { ok: false, limit: true, value: '', error: { name: 'LimitError', code: 'SANDBOX_CRASHED', message: (err as Error).message }, ops: [], oracles: [] }
            this.ready_.push(it)
            this.kickCommit()
          }
          for (const it of rest) it.suspect = true
          this.queue.unshift(...rest)
          this.needsLoad = { reason: LoadReason.RECYCLE, note: 'the sandbox process crashed and was restarted' }
          continue
        }
        const rest = runnable.slice(got)
        if (recycled) {
          const last = runnable[got - 1]?.result
          // A known culprit was logged with its limit; otherwise the batch was cut
          // short and the calls left are retried one by one to find it.
          if (!last?.limit) for (const it of rest) it.suspect = true
          this.needsLoad = { reason: LoadReason.RECYCLE, note: last?.limit ? `a call hit a limit (${last.error?.code})` : 'a batch of calls hit a limit' }
        }
        this.queue.unshift(...rest)
      }
    } finally {
      this.executing = false
      this.settle()
    }
  }

  private kickCommit(): void {
    if (this.committing) {
      this.wakeCommit?.()
      return
    }
    this.committing = this.commitLoop().finally(() => {
      this.committing = null
      this.settle()
    })
  }

  /**
   * A group's blocks are laid out in memory (files states and all) and
   * written to the redo journal; then its log append and its files append run
   * at the same time, and the group is answered once both are on disk. If a
   * crash loses the files append but not the log's, the restart finishes it
   * from the journal. Files appends run one group after another (each builds on the
   * last); log appends likewise, so the next group is laid out while this
   * one's log append runs.
   */
  private async commitLoop(): Promise<void> {
    // Log appends run in group order; a failed one stops the VM (appendLog checks), so none follows it.
    let lastLogged: Promise<unknown> = Promise.resolve()
    let appendsPending = 0
    const unfinished = new Set<Promise<void>>()
    while (!this.failure) {
      if (this.ready_.length === 0) {
        if (unfinished.size === 0) break
        await Promise.race([...unfinished, new Promise<void>((resolve) => { this.wakeCommit = resolve })])
        this.wakeCommit = null
        continue
      }
      const group = this.ready_.splice(0)
      let prepared: PreparedFiles
      let laid: LaidOut
      try {
        ({ prepared, laid } = await this.layOut(group))
      } catch (err) {
        this.fail(err as Error, group)
        break
      }
      // Journaled: the group is committed. The log append starts first (it is on every answer's path), then the files append.
      const logged = appendsPending > 0 ? lastLogged.then(() => this.appendLog(laid)) : this.appendLog(laid)
      appendsPending++
      lastLogged = logged
      logged.then(() => { appendsPending-- }, (err: Error) => { appendsPending--; this.stopWith(err) })
      const files = this.flushFiles(group, prepared)
      const done = this.finishGroup(group, laid, logged, files, prepared.states[prepared.states.length - 1]!)
      unfinished.add(done)
      void done.finally(() => unfinished.delete(done))
      // The next group builds on this one's files; a failure is handled by finishGroup.
      if (!(await files.then(() => true, () => false))) break
    }
    await Promise.all(unfinished)
  }

  private async flushFiles(group: Item[], prepared: PreparedFiles): Promise<void> {
    await this.writer!.flush(prepared)
    let ops = 0
    for (const it of group) ops += it.result!.ops.length
    this.view!.flushed(ops)
  }

  /**
   * Lay out a group: its files blocks and states, then its log entries, and
   * write both (with any earlier group's entries not yet appended) to the
   * redo journal. From here the group is committed: a crash or a failed
   * append is finished from the journal when the storage is opened again.
   */
  private async layOut(group: Item[]): Promise<{ prepared: PreparedFiles; laid: LaidOut }> {
    const prepared = await this.writer!.prepare(group.map((it) => it.result!.ops))
    const start = this.logWriter!.laidOut
    for (let i = 0; i < group.length; i++) {
      const it = group[i]!
      if (it.kind !== 'upgrade') continue
      // The upgrade's entry index, kept where a reopen finds the script in force (before anything of it is journaled).
      it.to!.index = start + i
      const at = b4a.alloc(4)
      at.writeUInt32LE(start + i, 0)
      await this.cores!.log.setUserData(SCRIPT_POINTER, at)
    }
    const laid = this.logWriter!.layOut(group.map((it, i) => ({ entry: entryOf(it, prepared.states[i]!), receipt: it.kind !== 'load' })))
    this.journal!.write({ ...prepared.record, ...this.logWriter!.pending() })
    return { prepared, laid }
  }

  /** Answer the group once both its log entries and its files are appended (a reader sees what the answer says). */
  private async finishGroup(group: Item[], laid: LaidOut, logged: Promise<Receipt[]>, files: Promise<void>, state: FilesState): Promise<void> {
    const [log, drive] = await Promise.allSettled([logged, files])
    if (log.status === 'rejected') {
      // Journaled, so committed: the calls ran and are logged when the storage is opened again.
      const err = log.reason as Error
      let r = 0
      for (const it of group) {
        if (it.kind === 'load') continue
        const index = laid.receipts[r++]!.index
        this.inflight--
        if (it.kind === 'upgrade') { it.reject(new VmsError('STORAGE_FAILED', `the upgrade to version ${it.to!.version} ran, but its log entry could not be written (${storageReason(err)}): the VM stopped; reopening its storage logs it as entry ${index}, from the redo journal`)); continue }
        it.reject(new VmsError('STORAGE_FAILED', `${it.call.method} ran, but its log entry could not be written (${storageReason(err)}): the VM stopped; reopening its storage logs it as entry ${index}, from the redo journal (look there before calling again)`))
      }
      this.fail(err, [])
      return
    }
    if (drive.status === 'fulfilled') {
      this.committedTo(laid, state)
      await this.answer(group, log.value)
      return
    }
    // Logged, but the archive append failed: the journal still holds the files; the VM stops.
    const err = drive.reason as Error
    let r = 0
    for (const it of group) {
      if (it.kind === 'load') continue
      const receipt = log.value[r++]!
      this.inflight--
      const what = it.kind === 'call' ? it.call.method : `the upgrade to version ${it.to!.version}`
      it.reject(Object.assign(new VmsError('STORAGE_FAILED', `${what} ran and is logged (entry ${receipt.index}), but its files could not be written (${storageReason(err)}): the VM stopped; reopen its storage to finish the commit from the redo journal`), { receipt }))
    }
    this.fail(err, [])
  }

  /** The VM stops for good (until reopened), for the first reason given; the operator's log says why. */
  private stopWith(err: Error): void {
    if (this.failure) return
    this.failure = err
    this.boundary?.fail(new VmsError('STORAGE_FAILED', `the VM stopped (${storageReason(err)}): it states nothing until its storage is opened again`))
    this.opts.onLog?.('error', `the VM stopped: ${storageReason(err)}; calls are refused until its storage is opened again (restart serving it: an unfinished commit is finished from the redo journal)`)
  }

  /** A commit failed: the VM stops; every call not answered yet is refused with the reason. */
  private fail(err: Error, group: Item[]): void {
    this.stopWith(err)
    const e = err instanceof VmsError ? err : new VmsError('STORAGE_FAILED', `the call could not be committed (${storageReason(err)}): the VM stopped; reopen its storage to go on`)
    for (const it of group) if (it.kind !== 'load') { this.inflight--; it.reject(e) }
    for (const it of this.ready_.splice(0)) if (it.kind !== 'load') { this.inflight--; it.reject(e) }
    for (const it of this.queue.splice(0)) { this.inflight--; it.reject(e) }
  }

  private settle(): void {
    if (this.executing || this.committing) return
    if (this.ready_.length > 0) { this.kickCommit(); return }
    for (const fn of this.idle.splice(0)) fn()
  }

  /** Commit one group on its own (the load entry at open). */
  private async commit(group: Item[]): Promise<void> {
    const { prepared, laid } = await this.layOut(group)
    const [receipts] = await Promise.all([this.appendLog(laid), this.flushFiles(group, prepared)])
    this.committedTo(laid, prepared.states[prepared.states.length - 1]!)
    await this.answer(group, receipts)
  }

  /** Append a laid-out group's entries (in group order); one signed receipt per call. */
  private async appendLog(laid: LaidOut): Promise<Receipt[]> {
    if (this.failure) throw this.failure
    return this.logWriter!.append(laid)
  }

  /** A group's log entries and files are both appended: the log's head and the files state its last entry commits to. */
  private committedTo(laid: LaidOut, files: FilesState): void {
    this.boundary!.committed({ log: { length: laid.end, fork: this.cores!.log.fork, treeHash: laid.hash }, files })
  }

  /**
   * The host's signed statement, for an auditor's query, of what its log
   * commits to: its log's head and its archive's lengths, taken once every
   * group laid out when the query came is appended (log and files), so the
   * log's last entry commits to exactly those lengths, and they cover every
   * block this host had published. An auditor holding archive blocks past its
   * log asks this; see audit/unlogged.ts for what a contradiction proves.
   */
  async filesStatement(query: FilesStateQuery): Promise<FilesStateStatement> {
    if (this.failure) throw new VmsError('STORAGE_FAILED', `the VM stopped (${storageReason(this.failure)}): it states nothing until its storage is opened again`)
    if (this.closing) throw new VmsError('CLOSED', 'the VM is closing')
    const { log: head, files } = await this.boundary!.at(this.logWriter!.laidOut)
    const blobs = (await this.drive.getBlobs()).core
    const body = { log: head, db: { length: files.dbLength, fork: this.drive.db.core.fork }, blobs: { length: files.blobsLength, fork: blobs.fork } }
    const log = this.cores!.log
    return { ...body, signer: log.keyPair!.publicKey, signature: crypto.sign(filesStateSignable(this.key, query, body), log.keyPair!.secretKey) }
  }

  /** Answer the group's calls (with `durability: 'mirror'`, once a peer holds the entries). */
  private async answer(group: Item[], receipts: Receipt[]): Promise<void> {
    const durable = this.opts.durability === 'mirror' && receipts.length > 0 ? await heldByAPeer(this.cores!.log, receipts[receipts.length - 1]!.index + 1, this.opts.durabilityTimeoutMs ?? 10000) : true

    let r = 0
    for (const it of group) {
      if (it.kind === 'load') continue
      const receipt = receipts[r++]!
      this.inflight--
      if (it.kind === 'upgrade') {
        // Logged and in force: a node updates what it knows of the VM (its methods, for a lazy reopen).
        this.emit('upgrade', { version: it.to!.version, hash: it.to!.hash, index: receipt.index })
        if (!durable) it.reject(Object.assign(new VmsError('DURABILITY_TIMEOUT', `the upgrade to version ${it.to!.version} is logged (entry ${receipt.index}) and in force, but no mirror holds it yet`), { receipt }))
        else it.resolve({ version: it.to!.version, hash: it.to!.hash, index: receipt.index, receipt, added: it.added, removed: it.removed })
        continue
      }
      const res = it.result!
      if (!durable) {
        const err = new VmsError('DURABILITY_TIMEOUT', `${it.call.method} ran and is logged (entry ${receipt.index}), but no mirror holds it yet: its result is not answered until one does; check the log later`)
        it.reject(Object.assign(err, { receipt }))
      } else if (res.ok) {
        const value = utf8.encode(res.value)
        it.resolve({ result: res.value === '' ? undefined : JSON.parse(res.value), value, receipt })
      } else {
        const code: VmsErrorCode = res.limit ? (limitCode(res.error!.code)) : 'CALL_FAILED'
        const err = new VmsError(code, `${it.call.method} failed: ${res.error!.name}: ${res.error!.message}`, res.error)
        Object.assign(err, { receipt })
        it.reject(err)
      }
    }
  }
}


function isBytes(v: unknown, n: number): v is Uint8Array {
  return v instanceof Uint8Array && v.byteLength === n
}

const EMPTY = new Uint8Array(0)
function noop(): void {}

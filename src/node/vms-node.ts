/**
 * A vms-node: one Hyperswarm + one Corestore + many VMs. It hosts VMs
 * (announced on each VM's discovery key) and dials VMs by key. Every
 * connection carries Corestore replication and one channel per VM.
 */
import ReadyResource from 'ready-resource'
import Corestore from 'corestore'
import Protomux from 'protomux'
import b4a from 'b4a'
import type Hyperswarm from 'hyperswarm'
import type { Connection } from 'hyperswarm'
import type { VmHost, VmHostOptions } from '../host/vm-host.js'
import { Identity, toKey, formatKey } from '../identity.js'
import { VmsError, describe } from '../errors.js'
import { checkWholeOption } from '../host/limits.js'
import { isBare, sandboxUnavailable } from '../sandbox/availability.js'
import { checkStorageDir, storageOpenError } from '../storage-dir.js'
import { PROTOCOL } from '../messages/wire.js'
import { decodeEntry, EntryType } from '../messages/index.js'
import { openHostChannel } from './host-channel.js'
import { serveControl, controlCall, type DeployPolicy, type ControlHandlers } from './control.js'
import { Quota } from './quota.js'
import { CONTROL_PROTOCOL } from '../messages/wire.js'
import crypto from 'hypercore-crypto'
import { openMirrorChannel } from './mirror-channel.js'
import { AttestationBook } from './attestation-book.js'
import { openReplica } from '../audit/swarm-replica.js'
import { MirrorFill, type FillResult } from './mirror-fill.js'
import { NodeRegistry, vmStore, vmName, type RegisteredVm } from './node-registry.js'
import { readJsonFile, writeJsonFile, isObject } from '../json-file.js'
import { HeadBook } from '../audit/head-book.js'
import { watchConflicts, type Equivocation } from './head-exchange.js'
import { watchMirrorHeads } from './mirror-heads.js'
import type { AuditOptions } from './volunteer-audit.js'
import type { ViewRunner } from '../host/view-runner.js'
import type { SignaturePool } from '../crypto/signature-pool.js'
import type { SandboxProcess, SandboxHooks } from '../sandbox/sandbox-process.js'
import type { ReplayReport } from '../audit/replay.js'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { VmHandle } from '../client/vm-handle.js'
import { openNetwork, settlesWithin, LEAVE_MS, type Bootstrap, type Network } from './network.js'

export interface VmsNodeOptions {
  /** The node's storage directory (a Corestore; hosted VMs live in namespaces of it). */
  storage: string
  /** DHT bootstrap nodes; none = the public DHT. */
  bootstrap?: Bootstrap[] | null
  /** Swarm on this DHT node (e.g. `testnet.createNode()` in tests) instead of making one. */
  dht?: unknown
  /** The caller identity for dialled calls. @default a new one */
  identity?: Identity
  /**
   * The node's primary key (32 bytes), from which every VM key it creates is
   * derived — to restore a node's keys from a backup. Unsafe: two nodes
   * running with one key write two histories under one VM key, which peers
   * report as equivocation. @default made and kept in storage
   */
  primaryKey?: Uint8Array
  /** Unload a hosted VM idle for this long (its sandbox stops; the next call wakes it). 0 = never. @default 60000 */
  idleMs?: number
  /**
   * The folder where the heads this node verified are kept, one file per VM
   * (what a later audit checks for equivocation). A volunteer whose storage
   * is temporary keeps them elsewhere (the CLI: `$VMS_HOME/heads`).
   * @default `<storage>/heads`
   */
  heads?: string
  /** Each hosted VM's files cache, in decoded blocks (see VmHost's `filesCacheEntries`). @default 131072 */
  filesCacheEntries?: number
  /** Accept deployments (and ls, stop) from these caller keys, within these quotas. */
  deploy?: DeployPolicy
  /** Time-out of dialling and of each call, in ms. @default 15000 */
  timeoutMs?: number
  onLog?: (vm: string, level: string, message: string) => void
}

/** A VM this node mirrors: its log and files archive, held in full and served to others. */
export interface Mirrored {
  key: Buffer
  log: Hypercore
  drive: Hyperdrive
  /** The first copy's bulk part: how many blocks came in checked stretches, and why it stopped short if it did. */
  filled: Promise<FillResult>
}

/** VMs a restarting node reopens at a time. */
const REOPEN_CONCURRENCY = 16

/**
 * Reopen each of `items` (VMs, mirrors), REOPEN_CONCURRENCY at a time: most of
 * a reopen is waiting (storage reads, the DHT announce). Results in order;
 * `onProgress` after each.
 */
async function reopenAll<T, R>(items: T[], open: (item: T) => Promise<R>, onProgress?: (opened: number, total: number) => void): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  let opened = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await open(items[i]!)
      onProgress?.(++opened, items.length)
    }
  }
  await Promise.all(Array.from({ length: Math.min(REOPEN_CONCURRENCY, items.length) }, worker))
  return out
}

/** A hosted VM's name in a node (and a script's file name): printable, 1–255 characters. */
const VM_NAME = /^[^\u0000-\u001f\u007f]{1,255}$/

export class VmsNode extends ReadyResource {
  readonly opts: VmsNodeOptions
  store!: Corestore
  swarm!: Hyperswarm
  identity: Identity
  private network: Network | null = null
  private hosts = new Map<string, VmHost>()
  /** The same hosts by the name they were hosted under. */
  private hostsByName = new Map<string, VmHost>()
  private handles = new Map<string, VmHandle>()
  private mirrors = new Map<string, Mirrored & { halt(): void; close(): Promise<void> }>()
  private muxes = new Set<{ mux: Protomux; conn: Connection }>()
  private books = new Map<string, AttestationBook>()
  private quotas = new Map<string, Quota>()
  private signatures: SignaturePool | null = null
  private sandboxes: ((hooks: SandboxHooks) => SandboxProcess) | null = null
  private spare: SandboxProcess | null = null
  private spareTimer: NodeJS.Timeout | null = null
  private mirroring = new Map<string, Promise<Mirrored>>()
  private registry: NodeRegistry
  private idleTimer: NodeJS.Timeout | null = null
  private views = new Map<string, ViewRunner>()
  private ViewRunnerClass: (typeof import('../host/view-runner.js'))['ViewRunner'] | null = null
  /** Proofs that a host showed peers different histories (two signed heads that disagree). */
  readonly equivocations: Equivocation[] = []
  private onEquivocation = (e: Equivocation): void => {
    if (this.equivocations.some((x) => b4a.equals(x.vmKey, e.vmKey) && x.length === e.length)) return
    this.equivocations.push(e)
    this.emit('equivocation', e)
  }
  /** Heads this node verified as an auditor (kept in its storage). */
  private heads!: HeadBook

  constructor(opts: VmsNodeOptions) {
    super()
    checkWholeOption('filesCacheEntries', opts.filesCacheEntries, 1)
    checkWholeOption('timeoutMs', opts.timeoutMs, 1)
    checkWholeOption('idleMs', opts.idleMs, 0)
    checkWholeOption('deploy.maxVms', opts.deploy?.maxVms, 1)
    checkWholeOption('deploy.maxCallsPerSecond', opts.deploy?.maxCallsPerSecond, 1)
    checkWholeOption('deploy.maxStorageBytes', opts.deploy?.maxStorageBytes, 1)
    this.opts = opts
    this.identity = opts.identity ?? Identity.generate()
    this.registry = new NodeRegistry(opts.storage)
  }

  protected override async _open(): Promise<void> {
    this.heads = isBare() ? new HeadBook(null) : new HeadBook(this.opts.heads ?? `${this.opts.storage}/heads`, `${this.opts.storage}/heads.json`)
    if (!sandboxUnavailable()) this.ViewRunnerClass = (await import('../host/view-runner.js')).ViewRunner
    // (Under Bare, a client's storage is its app's own directory: not checked, node:fs is not there.)
    if (!isBare()) await checkStorageDir(this.opts.storage)
    this.store = new Corestore(this.opts.storage, this.opts.primaryKey ? { primaryKey: this.opts.primaryKey, unsafe: true } : {})
    await this.store.ready().catch((err: Error) => { throw storageOpenError(this.opts.storage, err) })
    // The node's own key (stable across restarts): others find it by this key on the DHT.
    const keyPair = await this.nodeKeyPair()
    this.network = await openNetwork({ bootstrap: this.opts.bootstrap, dht: this.opts.dht, keyPair })
    this.swarm = this.network.swarm
    if (this.opts.deploy) await this.swarm.listen()
    const idleMs = this.opts.idleMs ?? 60000
    if (idleMs > 0 && !sandboxUnavailable()) {
      this.idleTimer = setInterval(() => { this.unloadIdle(idleMs).catch(() => {}) }, Math.max(50, idleMs / 2))
      this.idleTimer.unref?.()
    }
    this.swarm.on('connection', (conn: Connection) => this.onConnection(conn))
  }

  /**
   * Unload every hosted VM idle for `idleMs` or more, and stop the view
   * sandboxes (hosted or mirrored VMs) no view used for as long. Returns how
   * many sandboxes that stopped.
   */
  async unloadIdle(idleMs = 0): Promise<number> {
    let n = 0
    const now = Date.now()
    for (const host of this.hosts.values()) if (now - host.lastActive >= idleMs && host.loaded && await host.unload()) n++
    for (const views of this.views.values()) if (now - views.lastUsed >= idleMs && await views.unload()) n++
    return n
  }

  protected override async _close(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer)
    if (this.spareTimer) clearTimeout(this.spareTimer)
    for (const m of this.mirrors.values()) m.halt() // a first copy in progress stops, it does not fail
    for (const h of [...this.handles.values()]) await h.close()
    // Leave the DHT first (for at most LEAVE_MS), then let every admitted call finish. One
    // topic after another: all at once, 100 unannounces took ~1 s on a loopback DHT, in turn ~0.1 s.
    let late = false
    const leaving = (async () => {
      for (const host of this.hosts.values()) {
        if (late) return
        await this.swarm.leave(host.discoveryKey).catch(() => {})
      }
    })()
    const left = await settlesWithin(leaving, LEAVE_MS)
    late = true
    for (const host of this.hosts.values()) await host.close()
    for (const r of this.views.values()) await r.close()
    for (const m of this.mirrors.values()) await m.close()
    await this.signatures?.close()
    await this.spare?.close()
    await this.network?.close({ force: !left })
    await this.store.close()
  }

  /** Runs views for a VM this node hosts or mirrors (null where there is no sandbox: Bare, a client-only install). */
  private viewRunner(key: Uint8Array, log: Hypercore, drive: Hyperdrive): ViewRunner | null {
    if (!this.ViewRunnerClass) return null
    const hex = b4a.toString(key, 'hex')
    let r = this.views.get(hex)
    if (!r) this.views.set(hex, r = new this.ViewRunnerClass!(log, drive))
    return r
  }

  /** The attestations this node holds for a VM it hosts or mirrors. */
  book(key: Uint8Array): AttestationBook {
    const hex = b4a.toString(key, 'hex')
    let b = this.books.get(hex)
    if (!b) this.books.set(hex, b = new AttestationBook(key))
    return b
  }

  /** The node's swarm key pair, made once and kept in its storage (a Bare client makes a new one each time). */
  private async nodeKeyPair(): Promise<{ publicKey: Buffer; secretKey: Buffer }> {
    if (isBare()) return crypto.keyPair()
    const file = `${this.opts.storage}/node-key.json`
    // A damaged key is never replaced silently: deployers find this node by it.
    const kept = await readJsonFile(file, (v): v is { seed: string } => isObject(v) && typeof v.seed === 'string' && /^[0-9a-f]{64}$/.test(v.seed),
      '(this node\'s key) is damaged: restore it from a backup, or move it away to give the node a new key')
    if (kept) return crypto.keyPair(b4a.from(kept.seed, 'hex'))
    const seed = crypto.randomBytes(32)
    await writeJsonFile(file, { seed: b4a.toString(seed, 'hex') }, { mode: 0o600 })
    return crypto.keyPair(seed)
  }

  /** The VMs this node hosts. */
  get hosted(): VmHost[] { return [...this.hosts.values()] }

  /** This node's public key: deployers reach it by this key. */
  get key(): Buffer { return this.swarm.keyPair.publicKey }

  /** Stop serving a VM (its log and files stay in storage; it is no longer served after a restart). */
  async unhost(key: Uint8Array | string): Promise<void> {
    const k = toKey(key)
    const hex = b4a.toString(k, 'hex')
    const host = this.hosts.get(hex)
    if (!host) throw new VmsError('NOT_FOUND', `this node does not host VM ${formatKey(k)}`)
    this.hosts.delete(hex)
    for (const [name, h] of this.hostsByName) if (h === host) this.hostsByName.delete(name)
    await settlesWithin(this.swarm.leave(host.discoveryKey).catch(() => {}), LEAVE_MS)
    await host.close()
    await this.registry.update((reg) => {
      const before = reg.vms.length
      reg.vms = reg.vms.filter((v) => v.key !== hex)
      return reg.vms.length !== before
    })
  }

  /** Manage a remote node by its key: deploy a script as a new VM, list its VMs, stop one. Signed by this node's identity. */
  async manage(nodeKey: Uint8Array | string): Promise<{
    /** Deploy a script as a new VM, upgradable by `owners` (default: this node's identity, the deployer's; [] makes it immutable). */
    deploy(script: string, filename?: string, opts?: { owners?: Array<Uint8Array | string> }): Promise<{ key: string }>
    ls(): Promise<Array<{ key: string; filename: string; length: number }>>
    stop(key: string): Promise<void>
  }> {
    await this.ready()
    const k = toKey(nodeKey)
    const timeoutMs = this.opts.timeoutMs ?? 15000
    this.swarm.joinPeer(k)
    const find = () => [...this.muxes].find((m) => b4a.equals(m.conn.remotePublicKey, k))
    const end = Date.now() + timeoutMs
    while (!find()) {
      if (Date.now() > end) throw new VmsError('HOST_OFFLINE', `node ${formatKey(k)} did not answer within ${timeoutMs} ms: is it running with --allow-deploy, on the same DHT?`)
      await new Promise((r) => setTimeout(r, 50))
    }
    const call = (op: string, payload: unknown) => controlCall(find()!.mux, k, this.identity, op, payload, timeoutMs)
    return {
      deploy: (script, filename = 'script.js', opts = {}) => call('deploy', { script, filename, ...(opts.owners ? { owners: opts.owners.map((o) => b4a.toString(toKey(o), 'hex')) } : {}) }) as Promise<{ key: string }>,
      ls: () => call('ls', {}) as Promise<Array<{ key: string; filename: string; length: number }>>,
      stop: async (key) => { await call('stop', { key }) }
    }
  }

  private controlHandlers(): ControlHandlers {
    const policy = this.opts.deploy!
    return {
      deploy: async (script, filename, owners) => {
        if (this.hosts.size >= (policy.maxVms ?? 100)) throw new VmsError('QUOTA_EXCEEDED', `this node hosts ${this.hosts.size} VMs, its limit`)
        const name = 'deployed-' + b4a.toString(crypto.hash(b4a.from(script + '\n' + Date.now() + Math.random())), 'hex').slice(0, 16)
        const host = await this.host(script, { name, filename, owners })
        return { key: formatKey(host.key) }
      },
      ls: async () => this.hosted.map((h) => ({ key: formatKey(h.key), filename: h.genesis!.filename, length: h.log.length })),
      stop: async (key) => { await this.unhost(key) }
    }
  }

  /** Per-VM quotas of a deploying node (calls per second, storage). */
  private quotaFor(host: VmHost): Quota | null {
    const policy = this.opts.deploy
    if (!policy) return null
    const hex = b4a.toString(host.key, 'hex')
    let q = this.quotas.get(hex)
    if (!q) this.quotas.set(hex, q = new Quota(host, policy.maxCallsPerSecond ?? 1000, policy.maxStorageBytes ?? 256 * 1024 * 1024))
    return q
  }

  /**
   * Host a VM: create it (named `name` in this node's storage) or reopen it,
   * and announce it on its discovery key.
   */
  async host(script: string | null, opts: {
    name: string
    filename?: string
    /** the storage's own VM, at its root (see hostStored) */
    own?: boolean
    /**
     * Who may upgrade a VM made here (fixed in its genesis): caller keys; []
     * makes it immutable. @default [the node's `identity`] if it was given one,
     * else [] (an identity made for the session would be lost when it closes)
     */
    owners?: Array<Uint8Array | string>
  } & Pick<VmHostOptions, 'limits' | 'maxQueue' | 'durability' | 'durabilityTimeoutMs' | 'oracles' | 'oracleTimeoutMs' | 'lazy'>): Promise<VmHost> {
    if (script !== null && typeof script !== 'string') throw new VmsError('BAD_OPTION', `the script must be its source text (a string), or null to reopen the VM named ${opts?.name}; not ${describe(script)}`)
    if (typeof opts?.name !== 'string' || !VM_NAME.test(opts.name)) throw new VmsError('BAD_OPTION', `a VM needs a name (say its script's file name, 'rsvp'): 1 to 255 characters, no control characters; not ${describe(opts?.name)}`)
    if (opts.filename !== undefined && (typeof opts.filename !== 'string' || !VM_NAME.test(opts.filename))) throw new VmsError('BAD_OPTION', `a filename is 1 to 255 characters, no control characters; not ${describe(opts.filename)}`)
    await this.ready()
    // Hosting needs the sandbox (Node + isolated-vm); a Bare client loads none of it.
    const missing = sandboxUnavailable('hosting a VM')
    if (missing) throw new VmsError('SANDBOX_UNAVAILABLE', missing)
    const { VmHost } = await import('../host/vm-host.js')
    // Imported before the checks below: VMs hosted at the same time must not each make their own spare and pool.
    const { SandboxProcess } = await import('../sandbox/sandbox-process.js')
    const { SignaturePool } = await import('../crypto/signature-pool.js')
    if (!this.sandboxes) {
      // A warm spare sandbox process: creating or waking a VM takes it instead of waiting for a fork.
      const idleHooks = { read: () => Promise.reject(new Error('no VM yet')), log: () => {} }
      const make = () => { const p = new SandboxProcess(idleHooks); p.warm(); return p }
      this.spare = make()
      this.sandboxes = (hooks) => {
        const spare = this.closing ? null : this.spare
        const p = spare ?? new SandboxProcess(hooks)
        this.spare = null
        p.setHooks(hooks)
        if (this.closing) return p
        if (!spare) {
          // A burst (VMs created one after another): keep the next one booting.
          this.spare = make()
        } else if (!this.spareTimer) {
          // A lone wake: the next spare starts a little later, not while this
          // one loads and runs its call (a fork booting meanwhile took the cores:
          // a wake took ~15 ms instead of ~11).
          this.spareTimer = setTimeout(() => {
            this.spareTimer = null
            if (!this.spare && !this.closing) this.spare = make()
          }, 100)
        }
        return p
      }
    }
    this.signatures ??= new SignaturePool()
    // Hosted already under this name: the same VM, with the script in force.
    const open = this.hostsByName.get(opts.name)
    if (open) {
      if (script !== null && script !== open.script.script) throw anotherScript(opts.name, open)
      return open
    }
    const ns = vmStore(this.store, { name: opts.name, own: opts.own })
    const onLog = (level: string, message: string) => this.opts.onLog?.(opts.name, level, message)
    const durability = { durability: opts.durability, durabilityTimeoutMs: opts.durabilityTimeoutMs, oracles: opts.oracles, oracleTimeoutMs: opts.oracleTimeoutMs, signatures: this.signatures, sandboxes: this.sandboxes, filesCacheEntries: this.opts.filesCacheEntries }
    const host = await (script === null
      ? VmHost.open(ns, { onLog, lazy: opts.lazy, ...durability })
      : VmHost.create(ns, { script, filename: opts.filename ?? opts.name, limits: opts.limits, maxQueue: opts.maxQueue, owners: opts.owners ?? (this.opts.identity ? [this.opts.identity.publicKey] : []), onLog, ...durability })
    ).catch(async (err: VmsError) => {
      // Said in the node's terms: VMs here go by name, not by directory.
      if (err?.reason === 'no-vm') {
        const names = (await this.registry.read()).vms.map((v) => v.name)
        throw new VmsError('STORAGE_INVALID', `this node has no VM named ${opts.name} (it has: ${names.join(', ') || 'none'})`, null, 'no-vm')
      }
      if (err?.reason === 'another-script') throw anotherScript(opts.name, null, (await this.registry.read()).vms.find((v) => v.name === opts.name)?.key)
      throw err
    })
    this.hosts.set(b4a.toString(host.key, 'hex'), host)
    this.hostsByName.set(opts.name, host)
    watchConflicts(host.log, host.key, this.onEquivocation)
    const registered = (): RegisteredVm => ({ name: opts.name, filename: opts.filename ?? opts.name, key: b4a.toString(host.key, 'hex'), methods: host.methods, views: host.views, version: host.script.version, ...(opts.own ? { own: true } : {}) })
    await this.remember(registered())
    // An upgrade changes the methods a lazy reopen starts with.
    host.on('upgrade', () => { this.remember(registered()).catch((err: Error) => this.opts.onLog?.(opts.name, 'warn', `the node registry was not updated after an upgrade: ${err.message}`)) })
    for (const { mux, conn } of this.muxes) openHostChannel(mux, conn, host, this.book(host.key), this.onEquivocation, () => this.viewRunner(host.key, host.log, host.drive), this.quotaFor(host))
    const discovery = this.swarm.join(host.discoveryKey, { server: true, client: false })
    await discovery.flushed()
    return host
  }

  /**
   * Host again every VM this storage hosted before. Each reopens unloaded (no
   * sandbox until its first call, which loads it and logs the restart), so a
   * node with many VMs starts at once and holds no process for an idle one;
   * a VM the node does not yet know the methods of loads at once.
   */
  async hostStored(opts: Pick<VmHostOptions, 'oracles' | 'oracleTimeoutMs'> & { /** After each VM reopened (a node of thousands takes seconds). */ onProgress?: (opened: number, total: number) => void } = {}): Promise<VmHost[]> {
    const missing = sandboxUnavailable('hosting a VM')
    if (missing) throw new VmsError('SANDBOX_UNAVAILABLE', missing)
    const vms = (await this.registry.read()).vms
    if (vms.length === 0 && !(await this.registry.exists())) {
      // A VM's own storage (`vms-node create`, `VmHost.create`): its VM is at the Corestore's root.
      const own = await this.ownVm()
      if (own) vms.push(own)
    }
    const { onProgress, ...hostOpts } = opts
    const names = new Set(vms.map((v) => v.name))
    this.unserved = this.unserved.filter((u) => !names.has(u.name)) // tried again now
    // A VM that does not open (its archive changed outside its log, a damaged disk) is not served;
    // the rest of the node serves on. The node's log says why, and `node.unserved` lists them.
    const opened = await reopenAll(vms, ({ name, filename, methods, views, version, own }) =>
      this.host(null, { name, filename, own, ...hostOpts, lazy: methods && views ? { methods, views, version } : undefined }).catch((err: Error) => {
        const error = err instanceof VmsError ? err : new VmsError('STORAGE_INVALID', `VM ${name} did not open: ${err.message}`)
        this.unserved.push({ name, error })
        this.opts.onLog?.(name, 'error', `not served: ${error.message}`)
        return null
      }), onProgress)
    return opened.filter((h): h is VmHost => h !== null)
  }

  /** VMs `hostStored()` found but could not open, each with why. */
  unserved: Array<{ name: string; error: VmsError }> = []

  /** The VM at the root of this node's Corestore, if the storage is a VM's own (made by `create`). */
  private async ownVm(): Promise<RegisteredVm | null> {
    const log = this.store.get({ name: 'vms-log' })
    try {
      await log.ready()
      if (log.length === 0) return null
      const genesis = decodeEntry((await log.get(0))!, 0)
      if (genesis.type !== EntryType.GENESIS) return null
      const { filename } = genesis
      return { name: vmName(filename), filename, key: b4a.toString(log.key, 'hex'), own: true }
    } finally {
      await log.close()
    }
  }

  /**
   * Audit a VM from the swarm: replicate its log and files archive from
   * whichever peers have them (host or mirrors), then replay every entry
   * (see volunteer-audit.ts).
   */
  async audit(key: Uint8Array | string, opts: AuditOptions = {}): Promise<ReplayReport> {
    await this.ready()
    const missing = sandboxUnavailable('auditing')
    if (missing) throw new VmsError('SANDBOX_UNAVAILABLE', missing)
    const { auditOverSwarm } = await import('./volunteer-audit.js')
    return auditOverSwarm({
      store: this.store, swarm: this.swarm, heads: this.heads, timeoutMs: this.opts.timeoutMs,
      onEquivocation: this.onEquivocation,
      borrowHandle: (k, ms) => this.borrowHandle(k, ms),
      attest: (k, length, treeHash) => this.attest(k, length, treeHash)
    }, toKey(key), opts)
  }

  /**
   * A handle on a VM's peers for this node's own requests (bulk blocks): the
   * one already dialled, or a new one that `release` closes again.
   */
  private async borrowHandle(key: Buffer, timeoutMs: number): Promise<{ handle: VmHandle; release(): Promise<void> }> {
    const dialled = this.handles.has(b4a.toString(key, 'hex'))
    const handle = await this.dial(key, { timeoutMs })
    return { handle, release: async () => { if (!dialled) await handle.close() } }
  }

  /**
   * Forget what this node verified of a VM (the head it remembers): the next
   * audit starts over, as a new volunteer's. Resolves to whether it had one.
   */
  async forget(key: Uint8Array | string): Promise<boolean> {
    await this.ready()
    return this.heads.forget(toKey(key))
  }

  /** Announce to the VM's peers, signed with this node's identity, that entries 0..length-1 checked out. */
  private async attest(key: Buffer, length: number, treeHash: Uint8Array): Promise<void> {
    const handle = await this.dial(key, { timeoutMs: 3000 }).catch(() => null)
    handle?.attest(length, treeHash)
  }

  /**
   * Mirror a VM: keep a full, live replica of its log and archive, and serve
   * them to others on the VM's topic. Survives restarts (`mirrorStored`).
   */
  async mirror(key: Uint8Array | string): Promise<Mirrored> {
    await this.ready()
    const k = toKey(key)
    const hex = b4a.toString(k, 'hex')
    const existing = this.mirrors.get(hex) ?? this.mirroring.get(hex)
    if (existing) return existing
    // Asked twice at once, the VM is mirrored once.
    const opening = this.openMirror(k, hex)
    this.mirroring.set(hex, opening)
    try {
      return await opening
    } finally {
      this.mirroring.delete(hex)
    }
  }

  private async openMirror(k: Buffer, hex: string): Promise<Mirrored> {
    const replica = await openReplica(this.store, this.swarm, k, { server: true, timeoutMs: this.opts.timeoutMs })
    watchConflicts(replica.log, k, this.onEquivocation)
    // A long log is copied in bulk first; replication does the rest and keeps the copy live.
    const timeoutMs = this.opts.timeoutMs ?? 15000
    const fill = new MirrorFill(replica, async () => {
      const { handle, release } = await this.borrowHandle(k, timeoutMs)
      return { fetch: (core, start, end) => handle.blocks(core, start, end), release }
    }, timeoutMs)
    const heads = await watchMirrorHeads(replica.log, k, this.heads, this.onEquivocation)
    const m = {
      key: k, log: replica.log, drive: replica.drive, filled: fill.done,
      halt: () => fill.halt(),
      close: async () => { await fill.stop(); await heads.close(); await replica.close() }
    }
    this.mirrors.set(hex, m)
    for (const { mux } of this.muxes) openMirrorChannel(mux, m, this.book(m.key), this.onEquivocation, () => this.viewRunner(m.key, m.log, m.drive)).catch(() => {})
    await replica.announced
    await this.rememberMirror(hex)
    return m
  }

  /** The VM this node mirrors under `key`, if it does. */
  mirrored(key: Uint8Array | string): Mirrored | null {
    return this.mirrors.get(b4a.toString(toKey(key), 'hex')) ?? null
  }

  /** Mirror again every VM this storage mirrored before. */
  async mirrorStored(opts: { /** After each mirror reopened. */ onProgress?: (opened: number, total: number) => void } = {}): Promise<Mirrored[]> {
    return reopenAll((await this.registry.read()).mirrors ?? [], (hex) => this.mirror(hex), opts.onProgress)
  }

  /** Dial a VM by key (z-base-32, hex or bytes). Resolves once a proven host answered. */
  async dial(key: Uint8Array | string, opts: { timeoutMs?: number } = {}): Promise<VmHandle & Record<string, (...args: unknown[]) => Promise<unknown>>> {
    checkWholeOption('timeoutMs', opts.timeoutMs, 1)
    await this.ready()
    const k = toKey(key)
    const hex = b4a.toString(k, 'hex')
    let handle = this.handles.get(hex)
    if (!handle) {
      const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs ?? 15000
      const discoveryKey = crypto.discoveryKey(k)
      let discovery: ReturnType<Hyperswarm['join']> | null = null
      const log = this.store.get({ key: k }) // the log, so Corestore replicates it
      watchConflicts(log, k, this.onEquivocation)
      const created: VmHandle = new VmHandle(k, {
        identity: this.identity, store: this.store, timeoutMs, log, onEquivocation: this.onEquivocation,
        refresh: () => { discovery?.refresh({ client: true, server: false }).catch(() => {}) },
        onClose: () => {
          this.handles.delete(hex)
          log.close().catch(() => {})
          // This handle's own lookup only: a mirror of the same VM keeps announcing it.
          discovery?.destroy().catch(() => {})
        }
      })
      handle = created
      this.handles.set(hex, created)
      for (const { mux, conn } of this.muxes) created.attach(mux, conn)
      const local = this.hosts.get(hex)
      if (!local) discovery = this.swarm.join(discoveryKey, { server: false, client: true })
      try {
        await created.connected()
      } catch (err) {
        await created.close()
        throw err
      }
    }
    return withMethods(handle)
  }

  private onConnection(conn: Connection): void {
    this.store.replicate(conn)
    const mux = Protomux.from(conn)
    const entry = { mux, conn }
    this.muxes.add(entry)
    conn.on('error', () => {})
    conn.on('close', () => this.muxes.delete(entry))
    if (this.opts.deploy) {
      const serve = () => serveControl(mux, this.key, this.opts.deploy!, this.controlHandlers())
      mux.pair({ protocol: CONTROL_PROTOCOL }, serve)
      serve()
    }
    mux.pair({ protocol: PROTOCOL }, (id: Uint8Array) => {
      const hex = id ? b4a.toString(id, 'hex') : ''
      const host = this.hosts.get(hex)
      if (host) openHostChannel(mux, conn, host, this.book(host.key), this.onEquivocation, () => this.viewRunner(host.key, host.log, host.drive), this.quotaFor(host))
      const mirror = this.mirrors.get(hex)
      // protomux waits for this: the channel must exist before it answers the remote's open.
      if (mirror && !host) return openMirrorChannel(mux, mirror, this.book(mirror.key), this.onEquivocation, () => this.viewRunner(mirror.key, mirror.log, mirror.drive)).catch(() => {})
      return undefined
      // Channels for VMs this node does not host are left unanswered (and time out on the other side).
    })
    for (const host of this.hosts.values()) openHostChannel(mux, conn, host, this.book(host.key), this.onEquivocation, () => this.viewRunner(host.key, host.log, host.drive), this.quotaFor(host))
    for (const [hex, m] of this.mirrors) if (!this.hosts.has(hex)) openMirrorChannel(mux, m, this.book(m.key), this.onEquivocation, () => this.viewRunner(m.key, m.log, m.drive)).catch(() => {})
    for (const handle of this.handles.values()) handle.attach(mux, conn)
  }

  private async rememberMirror(hex: string): Promise<void> {
    await this.registry.update((reg) => {
      reg.mirrors = reg.mirrors ?? []
      if (reg.mirrors.includes(hex)) return false
      reg.mirrors.push(hex)
      return true
    })
  }

  private async remember(vm: RegisteredVm): Promise<void> {
    await this.registry.update((reg) => {
      const known = reg.vms.find((v) => v.name === vm.name)
      if (!known) {
        reg.vms.push(vm)
        return true
      }
      if (vm.methods === undefined || (String(known.methods) === String(vm.methods) && String(known.views) === String(vm.views) && (known.version ?? 1) === (vm.version ?? 1))) return false
      Object.assign(known, { methods: vm.methods, views: vm.views, version: vm.version })
      return true
    })
  }
}

function anotherScript(name: string, host: VmHost | null, key?: string): VmsError {
  const k = host ? formatKey(host.key) : key ? formatKey(toKey(key)) : '<key>'
  const how = host === null
    ? `if its genesis names owners (vms-node info ${k}), one of them can upgrade it (vms-node upgrade ${k} <script>); else host the new script under another name (a new VM with its own key)`
    : host.owners.length === 0
      ? 'it is immutable, so host the new script under another name (a new VM with its own key)'
      : `to change its script, upgrade it as one of its owners (vms-node upgrade ${k} <script>, or VmHandle.upgrade); for a new VM, host the script under another name`
  return new VmsError('STORAGE_INVALID', `this node already has a VM named ${name}, running another script${host ? ` (version ${host.script.version})` : ''}: ${how}; or pass script null to host the one there`, null, 'another-script')
}

/** Script methods as functions on the handle: `vm.RSVP(true)`. */
function withMethods(handle: VmHandle): VmHandle & Record<string, (...args: unknown[]) => Promise<unknown>> {
  return new Proxy(handle, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && !(prop in target) && prop !== 'then') return (...args: unknown[]) => target.invoke(prop, ...args)
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    }
  }) as VmHandle & Record<string, (...args: unknown[]) => Promise<unknown>>
}

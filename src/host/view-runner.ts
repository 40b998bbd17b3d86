/**
 * Read-only calls ("views"): a method run against the files state of the
 * latest log entry, in an isolate of its own (so the VM's in-memory state is
 * never touched), never logged. Any write by the view throws EROFS; `init`
 * runs as at any load, and what it writes stays in this isolate. Hosts and mirrors
 * both run views, from the archive they hold; the answer names the log
 * length it reflects.
 */
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { VmsError } from '../errors.js'
import { formatKey } from '../identity.js'
import { decodeEntry, EntryType, SEED_BYTES, type Genesis } from '../messages/index.js'
import { SandboxProcess } from '../sandbox/sandbox-process.js'
import { sandboxConfigFor } from '../sandbox/config.js'
import { genesisVersion, upgradeVersion, ownersOf, type ScriptVersion } from './script-version.js'
import type { RunResult } from '../sandbox/protocol.js'
import { FilesView } from '../files/files-view.js'

export interface ViewAnswer { value: string; error: RunResult['error']; limit: boolean; length: number }

const NO_SEED = new Uint8Array(SEED_BYTES)

export class ViewRunner {
  private log: Hypercore
  private drive: Hyperdrive
  private sandbox: SandboxProcess | null = null
  private view: FilesView | null = null
  private checkout: Hyperdrive | null = null
  private loadedAt = -1
  /** The script's methods and views, as it last loaded here (null before it ever did). */
  private described: { methods: string[]; views: string[]; script: { version: number; hash: Uint8Array; at: number } } | null = null
  private genesis: Genesis | null = null
  private queue: Promise<unknown> = Promise.resolve()
  /** When a view last ran here (the node stops idle sandboxes). */
  lastUsed = 0

  constructor(log: Hypercore, drive: Hyperdrive) {
    this.log = log
    this.drive = drive
  }

  /** Run `method(...args)` read-only. `args` is the canonical JSON text of the args array. */
  run(method: string, args: string, caller: Uint8Array): Promise<ViewAnswer> {
    this.lastUsed = Date.now()
    return this.serial(() => this.runNow(method, args, caller))
  }

  /** Views, describing and unloading take turns. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn)
    this.queue = next.catch(() => {})
    return next
  }

  /**
   * The script's methods and views, as it loads on the latest files state
   * (what a mirror announces in its hello, so clients know which calls it can
   * answer). Null while this peer holds no loaded state.
   */
  describe(): Promise<{ methods: string[]; views: string[]; script: { version: number; hash: Uint8Array; at: number } } | null> {
    return this.serial(async () => {
      if ((this.described && this.loadedAt === this.log.length) || this.log.length < 2) return this.described
      // Described as the script in force at the log's end loads; a sandbox started only for this stops again.
      const started = this.sandbox === null
      try {
        await this.prepare()
      } finally {
        if (started) await this.stopSandbox()
      }
      return this.described
    })
  }

  /** Stop the sandbox if one runs (the next view starts one again). True if one was stopped. */
  unload(): Promise<boolean> {
    return this.serial(() => this.stopSandbox())
  }

  private async stopSandbox(): Promise<boolean> {
    const sandbox = this.sandbox
    if (!sandbox) return false
    this.sandbox = null
    this.loadedAt = -1
    await sandbox.close()
    return true
  }

  /** The script in force at `length`: entries not looked at yet are read once, for upgrades (none for an immutable VM). */
  private async scriptAt(length: number): Promise<ScriptVersion> {
    this.script ??= genesisVersion(this.genesis!)
    if (ownersOf(this.genesis!).length === 0) return this.script
    for (; this.scanned < length; this.scanned++) {
      const e = decodeEntry((await this.log.get(this.scanned))!, this.scanned)
      if (e.type === EntryType.UPGRADE) this.script = upgradeVersion(e, this.scanned)
    }
    return this.script
  }

  private script: ScriptVersion | null = null
  private scanned = 1

  /** A fresh isolate on the archive as the last entry left it, unless the one loaded already is. */
  private async prepare(): Promise<{ methods: string[]; views: string[]; length: number }> {
    const length = this.log.length
    if (length < 2) throw new VmsError('HOST_OFFLINE', 'this peer holds no loaded VM state yet')
    if (this.loadedAt === length) return { ...this.described!, length }
    if (!this.genesis) {
      const g = decodeEntry((await this.log.get(0))!, 0)
      if (g.type !== EntryType.GENESIS) throw new VmsError('MALFORMED_ENTRY', 'log entry 0 is not a genesis')
      this.genesis = g
    }
    const last = decodeEntry((await this.log.get(length - 1))!, length - 1)
    if (last.type === EntryType.GENESIS) throw new VmsError('MALFORMED_ENTRY', 'a genesis after entry 0')
    await this.checkout?.close()
    this.checkout = this.drive.checkout(last.files.dbLength)
    await this.checkout.ready()
    this.view = new FilesView(this.checkout, last.files.dbLength)
    this.sandbox ??= new SandboxProcess({ read: (op, path, arg) => this.view!.read(op, path, arg), log: () => {} })
    const g = this.genesis
    const v = await this.scriptAt(length)
    const loaded = await this.sandbox.load(sandboxConfigFor({ ...g, script: v.script, filename: v.filename }, { readOnly: true }), last.time, NO_SEED)
    if (!loaded.result.ok) throw new VmsError('CALL_FAILED', `the script does not load read-only: ${loaded.result.error?.name}: ${loaded.result.error?.message}`, loaded.result.error)
    // What init wrote is seen by the views of this isolate, never written anywhere.
    this.view.apply(loaded.result.ops)
    this.described = { methods: loaded.methods, views: loaded.views, script: { version: v.version, hash: v.hash, at: v.index } }
    this.loadedAt = length
    return { ...this.described, length }
  }

  private async runNow(method: string, args: string, caller: Uint8Array): Promise<ViewAnswer> {
    const { methods, length } = await this.prepare()
    if (!methods.includes(method)) throw new VmsError('UNKNOWN_METHOD', `${method} is not a method of VM ${formatKey(this.log.key)}`)
    let result: RunResult | null = null
    await this.sandbox!.run([{ method, args, callerId: formatKey(caller), time: Date.now(), seed: NO_SEED }], this.genesis!.limits.timeoutMs, (rs) => { result = rs[0] ?? null })
    const r = result as RunResult | null
    if (!r) throw new VmsError('SANDBOX_CRASHED', 'the view did not run')
    if (r.limit) this.loadedAt = -1
    return { value: r.value, error: r.error, limit: r.limit, length }
  }

  async close(): Promise<void> {
    await this.queue
    await this.stopSandbox()
    await this.checkout?.close()
  }
}


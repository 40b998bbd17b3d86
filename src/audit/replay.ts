/**
 * Replay: re-execute a VM's log in our own sandbox and check, entry by entry,
 * that the host told the truth — every caller signature and nonce, every
 * outcome, and the files archive after every entry (its blocks, their tree
 * hashes). Starts at the genesis or at any load entry (a checkpoint).
 * Stops at the first divergence and says what was expected and what was found.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { Node as BeeNode } from 'hyperbee/lib/messages.js'
import { VmsError } from '../errors.js'
import { MerkleRoots } from '../merkle.js'
import { rootsOfCore } from '../merkle-core.js'
import { formatKey } from '../identity.js'
import { SignaturePool } from '../crypto/signature-pool.js'
import {
  decodeEntry, callSignable, upgradeSignable, scriptHash, sameFilesState, EntryType, SANDBOX_API_VERSIONS, LOG_VERSION,
  type CallEntry, type FilesState, type Genesis, type LoadEntry, type LogEntry, type Outcome, type UpgradeEntry
} from '../messages/index.js'
import { scriptAt, ownersOf, isOwner, upgradeVersion, type ScriptVersion } from '../host/script-version.js'
import { SandboxProcess } from '../sandbox/sandbox-process.js'
import { sandboxConfigFor } from '../sandbox/config.js'
import type { CallInput, FileOp, ReadOp, RunResult, SandboxConfig } from '../sandbox/protocol.js'
import { FilesView } from '../files/files-view.js'
import { blobBlocks, dirValue, fileValue, filesKeyEncoding } from '../files/entries.js'
import { NonceWindow, noncesSince } from '../host/nonce-window.js'
import type { BlockFeed } from './block-feed.js'
import { reach } from './swarm-replica.js'

export type DivergenceClass =
  /** The files archive holds changes no log entry accounts for, or lacks ones it claims. */
  | 'files-tampered'
  /** Re-executing the call gave another outcome than the logged one. */
  | 'result-differs'
  /** A caller's signature (or nonce) does not check out. */
  | 'signature-invalid'
  /** An entry does not decode, or breaks the log's rules (order, time, types). */
  | 'malformed-entry'
  /** The host rewrote or truncated history it had signed before (two signed heads disagree). */
  | 'equivocation'
  /**
   * The archive holds files past what the log commits to, and they stay there:
   * the host's own signed statement, asked for once its commits were done, says so.
   */
  | 'files-unlogged'

export interface Divergence {
  index: number
  class: DivergenceClass
  message: string
  expected: string
  found: string
}

export interface ReplayReport {
  /** True when every entry checked out. */
  ok: boolean
  vmKey: string
  /** First entry replayed (a load entry). */
  from: number
  /** One past the last entry replayed. */
  to: number
  calls: number
  /** Load entries checked: the genesis' script loading, restarts, wakes, and upgrades (counted again in `upgrades`). */
  loads: number
  /** Upgrade entries checked (script versions switched to). Absent in reports of older versions. */
  upgrades?: number
  divergence: Divergence | null
  /** Set when the auditor could not finish for a reason that is not the host's (its own limits). */
  inconclusive: string | null
  /** Things worth knowing that are not divergences (calls that hit a limit). */
  notes: string[]
  /** The files state before the first entry checked (what the checkpoint starts from). */
  start: FilesState | null
  /** Oracles the genesis declares: with any, the VM is *trusted* (their outputs rest on the host's word). */
  oracles?: string[]
  /** The files state after the last entry checked. */
  files: FilesState | null
  /**
   * A volunteer's audit: blocks fetched in bulk stretches (each checked
   * against the signed trees), and why it fell back to plain replication, if it did.
   */
  fetched?: { bulk: number; fallback: string | null }
}

export interface ReplayOptions {
  /** Index of the load entry to start at. @default 1 */
  from?: number
  /** Stop before this index. @default log.length */
  to?: number
  /** The auditor allows this many times the VM's time limit per call. @default 4 */
  timeoutFactor?: number
  /** Entries read ahead at once (measured: 4,096 audits ~5% faster over the swarm than 1,024). @default 4096 */
  batch?: number
  /** Calls handed to the sandbox at once (the next slice runs while one is checked). @default 64 */
  slice?: number
  onProgress?: (p: { index: number; total: number; calls: number }) => void
  /**
   * Check that the archive holds nothing after the last entry. Right for a
   * stopped host's storage; off for a live replica, where the host may have
   * written a group's files and not yet its entries. @default true
   */
  checkTrailing?: boolean
  /**
   * Keep auditing new entries as they are appended, until `signal` aborts or
   * a divergence appears (the report then names it). `onVerified(length)` is
   * called each time the log checked out up to `length`.
   */
  follow?: { signal?: AbortSignal; onVerified?: (length: number) => void }
  /**
   * The VM's and its archive's keys, when the cores replayed are copies under
   * other keys (a report's verifier rebuilds them). @default the cores' own keys
   */
  keys?: { vm: Uint8Array; files: Uint8Array }
  onLog?: (level: string, message: string) => void
  /**
   * How long a block the cores lack may take to arrive from a peer; past it
   * the replay stops, inconclusive, and says so. @default 30000
   */
  readTimeoutMs?: number
  /**
   * Where to read blocks first: feeds that fetched stretches of the log and
   * of the files hyperbee in bulk and verified them (a volunteer's audit).
   * Whatever a feed does not have is read from the cores as usual.
   */
  feeds?: { log?: BlockFeed; files?: BlockFeed }
}

/**
 * Combine the reports of stretches audited apart (by several processes or
 * machines): together they vouch for a log only if each checked out, they
 * follow one another, and each starts from exactly the files state the one
 * before it ended with. Returns a report for the whole, or the first gap.
 */
export function combineReports(parts: ReplayReport[]): ReplayReport & { gap: string | null } {
  const sorted = [...parts].sort((a, b) => a.from - b.from)
  const first = sorted[0]
  if (!first) throw new VmsError('REPLAY_INVALID', 'no reports to combine')
  const whole: ReplayReport & { gap: string | null } = {
    ok: true, vmKey: first.vmKey, from: first.from, to: first.from, calls: 0, loads: 0, upgrades: 0, divergence: null,
    inconclusive: null, notes: [], start: first.start, files: first.start, gap: null
  }
  for (const r of sorted) {
    if (r.vmKey !== whole.vmKey) throw new VmsError('REPLAY_INVALID', `reports of two VMs: ${whole.vmKey} and ${r.vmKey}`)
    if (!r.ok) return { ...whole, ok: false, divergence: r.divergence, inconclusive: r.inconclusive, to: r.to }
    if (r.from !== whole.to && whole.to !== first.from) {
      return { ...whole, ok: false, gap: `entries ${whole.to}–${r.from - 1} were not audited (one stretch ends at ${whole.to}, the next starts at ${r.from})` }
    }
    if (whole.files && r.start && !sameFilesState(whole.files, r.start)) {
      return { ...whole, ok: false, gap: `the stretch from ${r.from} starts from another files state than the one before it ended with` }
    }
    whole.to = r.to
    whole.calls += r.calls
    whole.loads += r.loads
    whole.upgrades! += r.upgrades ?? 0
    whole.notes.push(...r.notes)
    whole.files = r.files
  }
  return whole
}

/** The load entries of a log: where stretches of a parallel audit can start. */
export async function checkpoints(log: Hypercore): Promise<number[]> {
  const out: number[] = []
  for (let i = 1; i < log.length; i++) {
    const type = decodeEntry((await log.get(i))!, i).type
    if (type === EntryType.LOAD || type === EntryType.UPGRADE) out.push(i)
  }
  return out
}

class Diverged extends Error {
  d: Divergence
  constructor(d: Divergence) { super(d.message); this.d = d }
}

class Inconclusive extends Error {}

const utf8 = new TextEncoder()
const utf8d = new TextDecoder()

export async function replay(source: { log: Hypercore; drive: Hyperdrive }, opts: ReplayOptions = {}): Promise<ReplayReport> {
  if (typeof source?.log?.get !== 'function' || typeof source?.drive?.getBlobs !== 'function') {
    throw new VmsError('MALFORMED_REQUEST', 'replay takes { log, drive }: a VM\'s call log (a hypercore) and its files archive (a hyperdrive), as host.logAndFiles() gives them')
  }
  checkStretch(opts)
  const r = new Replay(source.log, source.drive, opts)
  try {
    return await r.run()
  } finally {
    await r.close()
  }
}

/**
 * `from` and `to` as a replay takes them: whole entry numbers, from a load
 * entry (≥ 1) to past it. Throws REPLAY_INVALID before anything is read or
 * fetched (where the log ends is checked once it is open).
 */
export function checkStretch(opts: { from?: unknown; to?: unknown }): void {
  const { from, to } = opts
  const whole = (v: unknown, min: number) => v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= min)
  if (!whole(from, 1) || !whole(to, 2) || (to !== undefined && (to as number) <= ((from as number | undefined) ?? 1))) {
    throw new VmsError('REPLAY_INVALID', `cannot replay entries ${String(from ?? 1)} to ${String(to ?? 'the end')}: give whole entry numbers, from a load entry (≥ 1) to past it`)
  }
}

class Replay {
  private log: Hypercore
  private drive: Hyperdrive
  private opts: ReplayOptions
  private sandbox: SandboxProcess | null = null
  private verifier = new SignaturePool()
  private prefetched = new Map<number, Promise<Uint8Array | null>>()
  private view: FilesView | null = null
  private checkout: Hyperdrive | null = null
  private dbRoots!: MerkleRoots
  private blobRoots!: MerkleRoots
  private blobBytes = 0
  private state!: FilesState
  private prevTime = 0
  private nonces!: NonceWindow
  private config!: SandboxConfig
  private genesis!: Genesis
  /** The script in force (switched at each upgrade entry). */
  private current!: ScriptVersion
  private report: ReplayReport
  private get vmKey(): Uint8Array { return this.opts.keys?.vm ?? this.log.key }
  /** The slice of calls running in the sandbox now (oracle answers are taken from its entries). */
  private running: { first: number; calls: CallEntry[]; results: RunResult[]; callIndex: number; oraclePos: number; mismatch: { index: number; expected: string; found: string } | null } | null = null
  private oracleMismatches = new Map<number, { expected: string; found: string }>()
  /** Set when a read the script made found no peer in time: the replay cannot conclude. */
  private starved: string | null = null

  constructor(log: Hypercore, drive: Hyperdrive, opts: ReplayOptions) {
    this.log = log
    this.drive = drive
    this.opts = opts
    this.report = {
      ok: false, vmKey: formatKey(opts.keys?.vm ?? log.key), from: opts.from ?? 1, to: opts.from ?? 1,
      calls: 0, loads: 0, upgrades: 0, divergence: null, inconclusive: null, notes: [], start: null, files: null
    }
  }

  async close(): Promise<void> {
    await this.sandbox?.close()
    await this.verifier.close()
    await this.checkout?.close()
  }

  async run(): Promise<ReplayReport> {
    try {
      await this.check()
      this.report.ok = true
    } catch (err) {
      if (err instanceof Diverged) this.report.divergence = err.d
      else if (err instanceof Inconclusive) this.report.inconclusive = err.message
      else throw err
    }
    this.report.files = this.state ?? null
    return this.report
  }

  private async entry(index: number): Promise<LogEntry> {
    const buf = (await this.opts.feeds?.log?.get(index)) ?? await this.fetch(this.log, index)
    if (!buf) throw this.unavailable(`log entry ${index}`)
    try {
      return decodeEntry(buf, index)
    } catch (err) {
      throw diverge(index, 'malformed-entry', (err as Error).message, `a log entry in format version ${LOG_VERSION} or earlier`, `${buf.byteLength} bytes that do not decode`)
    }
  }

  private async check(): Promise<void> {
    const log = this.log
    await log.ready()
    await this.within(this.drive.ready(), 'the files archive')
    const blobsCore = (await this.within(this.drive.getBlobs(), 'the files archive\'s header')).core
    const totalAtStart = this.opts.to ?? log.length
    const from = this.opts.from ?? 1
    if (log.length === 0) throw new Inconclusive('the log is empty: replicate it first')
    // (Whole numbers, from before to: checkStretch, in replay().)
    if (this.opts.to !== undefined && this.opts.to > log.length) {
      throw new VmsError('REPLAY_INVALID', `cannot replay entries ${from} to ${this.opts.to}: give whole entry numbers, from a load entry (≥ 1) to at most the log's length, ${log.length}`)
    }

    const g = await this.entry(0)
    if (g.type !== EntryType.GENESIS) throw diverge(0, 'malformed-entry', 'entry 0 is not a genesis', 'genesis', EntryType[g.type] ?? String(g.type))
    const genesis: Genesis = g
    this.report.oracles = genesis.oracles
    if (!SANDBOX_API_VERSIONS.includes(genesis.apiVersion)) {
      throw new Inconclusive(`the VM uses sandbox API version ${genesis.apiVersion}; this auditor knows ${SANDBOX_API_VERSIONS.join(' and ')}: upgrade vms-node`)
    }
    if (!b4a.equals(genesis.filesKey, this.opts.keys?.files ?? this.drive.key)) {
      throw diverge(0, 'malformed-entry', 'the genesis names another files archive', formatKey(genesis.filesKey), formatKey(this.drive.key))
    }
    if (from < 1 || from >= Math.max(totalAtStart, 2)) throw new VmsError('REPLAY_INVALID', `cannot start at entry ${from}: the log has ${log.length} entries`)
    const start = await this.entry(from)
    if (start.type !== EntryType.LOAD && start.type !== EntryType.UPGRADE) throw new VmsError('REPLAY_INVALID', `entry ${from} is not a load (or upgrade) entry: a replay starts at one (a checkpoint)`)

    // The files state before the checkpoint, checked against the archive.
    const before = from === 1 ? genesis : await this.entry(from - 1)
    if (before.type === EntryType.GENESIS && from !== 1) throw diverge(from - 1, 'malformed-entry', 'a genesis after entry 0', 'load or call', 'genesis')
    this.state = before.files
    this.report.start = this.state
    this.prevTime = before.time
    this.dbRoots = await this.rootsAt(this.drive.db.core, this.state.dbLength, from - 1)
    this.blobRoots = await this.rootsAt(blobsCore, this.state.blobsLength, from - 1)
    if (!b4a.equals(this.dbRoots.hash(), this.state.dbTreeHash) || !b4a.equals(this.blobRoots.hash(), this.state.blobsTreeHash)) {
      throw diverge(from - 1, 'files-tampered', 'the files archive differs from the state this entry commits to', hex(this.state.dbTreeHash), hex(this.dbRoots.hash()))
    }
    this.blobBytes = this.blobRoots.byteLength()

    this.nonces = new NonceWindow(genesis.limits.nonceWindowMs, genesis.limits.nonceSkewMs)
    await this.seedNonces(from, start.time)
    this.genesis = genesis
    // The script in force at the checkpoint: the latest upgrade before it, else the genesis'.
    this.current = await scriptAt((i) => this.entry(i), genesis, from)
    this.config = this.configFor(this.current)
    this.view = new FilesView(await this.checkoutAt(this.state.dbLength), this.state.dbLength, { key: genesis.filesKey })
    this.sandbox = new SandboxProcess({
      read: (op, path, arg) => op === 'oracle' ? Promise.resolve(this.loggedOracle(path, arg ?? '[]')) : this.readFiles(op, path, arg),
      log: (l, m) => this.opts.onLog?.(l, m)
    })

    const batchSize = this.opts.batch ?? 4096
    const follow = this.opts.follow
    let i = from
    let lastLimit = false
    let total = totalAtStart
    while (true) {
      let ahead = this.entries(i, Math.min(total, i + batchSize))
      while (i < total) {
        // Read the next stretch while this one is replayed.
        const end = Math.min(total, i + batchSize)
        const entries = await ahead
        ahead = this.entries(end, Math.min(total, end + batchSize))
        let j = 0
        while (j < entries.length) {
          const index = i + j
          const e = entries[j]!
          if (e.type === EntryType.GENESIS) throw diverge(index, 'malformed-entry', 'a genesis after entry 0', 'load or call', 'genesis')
          if (lastLimit && e.type !== EntryType.LOAD) throw diverge(index, 'malformed-entry', 'a call that hit a limit must be followed by a load entry', 'load', 'call')
          lastLimit = false
          if (e.type === EntryType.LOAD) {
            await this.replayLoad(index, e)
            j++
            continue
          }
          if (e.type === EntryType.UPGRADE) {
            await this.replayUpgrade(index, e)
            j++
            continue
          }
          if (e.outcome.limit) {
            await this.checkLimitCall(index, e)
            lastLimit = true
            j++
            continue
          }
          let k = j
          while (k < entries.length) {
            const x = entries[k]!
            if (x.type !== EntryType.CALL || x.outcome.limit) break
            k++
          }
          await this.replayCalls(index, entries.slice(j, k) as CallEntry[])
          j = k
        }
        await this.checkBlobsCore(blobsCore, i, entries)
        i = end
        this.report.to = i
        this.opts.onProgress?.({ index: i, total, calls: this.report.calls })
      }
      await ahead.catch(() => {})
      if (!follow) break
      follow.onVerified?.(total)
      if (!(await grown(log, total, follow.signal))) break
      total = log.length
    }
    this.report.to = total
    if (total === log.length && this.opts.checkTrailing !== false && !follow) {
      const extraDb = this.drive.db.core.length - this.state.dbLength
      const extraBlobs = blobsCore.length - this.state.blobsLength
      if (extraDb !== 0 || extraBlobs !== 0) {
        throw diverge(total, 'files-tampered', `the files archive has ${extraDb} entries and ${extraBlobs} blob blocks after the last log entry that no entry accounts for`,
          `db length ${this.state.dbLength}, blobs length ${this.state.blobsLength}`, `db length ${this.drive.db.core.length}, blobs length ${blobsCore.length}`)
      }
    }
  }

  private async entries(from: number, to: number): Promise<LogEntry[]> {
    if (from >= to) return []
    const ps: Promise<LogEntry>[] = []
    for (let i = from; i < to; i++) ps.push(this.entry(i))
    return Promise.all(ps)
  }

  private async rootsAt(core: Hypercore, length: number, index: number): Promise<MerkleRoots> {
    if (core.length < length) {
      throw diverge(index, 'files-tampered', 'the files archive is shorter than this entry says', `length ${length}`, `length ${core.length}`)
    }
    try {
      return await rootsOfCore(core, length, this.readTimeoutMs)
    } catch (err) {
      throw new Inconclusive(`the files archive's tree at entry ${index} could not be read (${(err as Error).message}): is the host or a mirror online (and on the same DHT)?`)
    }
  }

  private async checkoutAt(version: number): Promise<Hyperdrive> {
    await this.checkout?.close()
    this.checkout = this.drive.checkout(version)
    await this.within(this.checkout.ready(), `the files archive at version ${version}`)
    return this.checkout
  }

  /** The nonces of the calls in the window before entry `from` (a stretch audit starts there). */
  private async seedNonces(from: number, time: number): Promise<void> {
    const horizon = time - this.nonces.windowMs - this.nonces.skewMs
    for await (const e of noncesSince((i) => this.entry(i), from, horizon)) this.nonces.add(e.publicKey, e.nonce, e.time)
  }

  private checkTime(index: number, time: number): void {
    if (time < this.prevTime) throw diverge(index, 'malformed-entry', 'the entry\'s time goes backwards (entries reordered?)', `time >= ${this.prevTime}`, String(time))
    this.prevTime = time
  }

  private async replayLoad(index: number, e: LoadEntry): Promise<void> {
    this.checkTime(index, e.time)
    this.view!.reset(await this.checkoutAt(this.state.dbLength), this.state.dbLength)
    let res: { methods: string[]; result: RunResult }
    try {
      res = await this.sandbox!.load(this.config, e.time, e.seed)
    } catch (err) {
      throw new Inconclusive(`the auditor's sandbox failed at load entry ${index}: ${(err as Error).message}`)
    }
    if (this.starved) throw new Inconclusive(this.starved)
    this.report.loads++
    if (e.outcome.limit) {
      this.report.notes.push(`entry ${index}: the host's load hit a limit (${e.outcome.error?.code}); not reproducible, not checked`)
      await this.checkFiles(index, e, [])
      return
    }
    if (res.result.limit) throw new Inconclusive(`the auditor's sandbox hit a limit at load entry ${index}: ${res.result.error?.message}`)
    this.compareOutcome(index, e.outcome, res.result)
    await this.checkFiles(index, e, res.result.ops)
  }

  private async checkLimitCall(index: number, e: CallEntry): Promise<void> {
    this.checkTime(index, e.time)
    this.checkPin(index, e)
    this.checkNonce(index, e)
    if (!(await this.verifySignature(e))) throw badSignature(index, e)
    if (!sameFilesState(e.files, this.state)) {
      throw diverge(index, 'files-tampered', 'a call that hit a limit changed the files', describeState(this.state), describeState(e.files))
    }
    this.report.calls++
    this.report.notes.push(`entry ${index}: ${e.method} hit a limit on the host (${e.outcome.error?.code}); not reproducible, not re-executed`)
  }

  /** A pinned call must have run on the version it was signed for. */
  private checkPin(index: number, e: CallEntry): void {
    if (e.scriptHash && !b4a.equals(e.scriptHash, this.current.hash)) {
      throw diverge(index, 'malformed-entry', 'a call signed for another script version was run on this one', `version ${this.current.version} (${hex(this.current.hash)})`, hex(e.scriptHash))
    }
  }

  private checkNonce(index: number, e: CallEntry): void {
    const bad = this.nonces.check(e.publicKey, e.nonce, e.time)
    if (bad) throw diverge(index, 'signature-invalid', `the call's nonce is not acceptable: ${bad}`, 'a fresh nonce within the window', hex(e.nonce))
    this.nonces.add(e.publicKey, e.nonce, e.time)
  }

  private verifySignature(e: CallEntry): Promise<boolean> {
    return this.verifier.verify(callSignable(this.vmKey, e.method, e.args, e.nonce, e.scriptHash), e.signature, e.publicKey)
  }

  /** What the sandbox loads to replay script version `v` (with `migrateFrom`: an upgrade's load). */
  private configFor(v: ScriptVersion, migrateFrom?: number): SandboxConfig {
    return sandboxConfigFor({ ...this.genesis, script: v.script, filename: v.filename }, {
      timeoutMs: this.genesis.limits.timeoutMs * (this.opts.timeoutFactor ?? 4), ...(migrateFrom === undefined ? {} : { migrateFrom })
    })
  }

  /**
   * An upgrade entry: allowed by the governance in force (the genesis'
   * owners), signed by that owner over the new source's hash, the next
   * version after the one in force; then the new script's load (init and
   * migrate) replayed as a load is, and the new script put in force.
   */
  private async replayUpgrade(index: number, e: UpgradeEntry): Promise<void> {
    this.checkTime(index, e.time)
    const owners = ownersOf(this.genesis)
    if (owners.length === 0) throw diverge(index, 'malformed-entry', 'an upgrade of an immutable VM (its genesis names no owner)', 'no upgrade', `an upgrade by ${formatKey(e.owner)}`)
    if (!isOwner(this.genesis, e.owner)) throw diverge(index, 'signature-invalid', 'an upgrade by a key the genesis does not name as an owner', owners.map(formatKey).join(', '), formatKey(e.owner))
    if (e.version !== this.current.version + 1 || e.previous !== this.current.index) {
      throw diverge(index, 'malformed-entry', 'the upgrade does not follow the version in force', `version ${this.current.version + 1} after entry ${this.current.index}`, `version ${e.version} after entry ${e.previous}`)
    }
    const bad = this.nonces.check(e.owner, e.nonce, e.time)
    if (bad) throw diverge(index, 'signature-invalid', `the upgrade's nonce is not acceptable: ${bad}`, 'a fresh nonce within the window', hex(e.nonce))
    this.nonces.add(e.owner, e.nonce, e.time)
    if (!(await this.verifier.verify(upgradeSignable(this.vmKey, scriptHash(e.script), e.nonce, e.filename), e.signature, e.owner))) {
      throw diverge(index, 'signature-invalid', 'the owner\'s signature does not match the upgrade (its source, or its hash)', `a signature by ${formatKey(e.owner)} over the source's hash`, hex(e.signature))
    }
    if (!e.outcome.ok) throw diverge(index, 'malformed-entry', 'an upgrade whose script failed to load (a host refuses it and never logs it)', 'a load that worked', `${e.outcome.error?.name}: ${e.outcome.error?.message}`)
    const to = upgradeVersion(e, index)
    this.view!.reset(await this.checkoutAt(this.state.dbLength), this.state.dbLength)
    let res: { methods: string[]; result: RunResult }
    try {
      res = await this.sandbox!.load(this.configFor(to, this.current.version), e.time, e.seed)
    } catch (err) {
      throw new Inconclusive(`the auditor's sandbox failed at upgrade entry ${index}: ${(err as Error).message}`)
    }
    if (this.starved) throw new Inconclusive(this.starved)
    if (res.result.limit) throw new Inconclusive(`the auditor's sandbox hit a limit at upgrade entry ${index}: ${res.result.error?.message}`)
    this.compareOutcome(index, e.outcome, res.result)
    await this.checkFiles(index, e, res.result.ops)
    this.current = to
    this.config = this.configFor(to)
    this.report.loads++
    this.report.upgrades = (this.report.upgrades ?? 0) + 1
    this.report.notes.push(`entry ${index}: upgraded to version ${to.version} (${b4a.toString(to.hash, 'hex').slice(0, 12)}…), by ${formatKey(e.owner)}`)
  }

  private async replayCalls(first: number, calls: CallEntry[]): Promise<void> {
    // Order and nonces first; replay up to the first bad one, so an earlier divergence wins.
    let bad: Diverged | null = null
    let n = 0
    for (; n < calls.length; n++) {
      const e = calls[n]!
      try {
        this.checkTime(first + n, e.time)
        this.checkPin(first + n, e)
        this.checkNonce(first + n, e)
      } catch (err) {
        if (!(err instanceof Diverged)) throw err
        bad = err
        break
      }
    }
    // Signatures (worker threads), file blocks (storage) and execution (sandbox) run side by side.
    const signatures = Promise.all(calls.slice(0, n).map((e) => this.verifySignature(e)))
    if (n > 0) this.prefetch(this.state.dbLength, calls[n - 1]!.files.dbLength)
    // Execution is pipelined: the sandbox runs the next slice while this one is checked.
    // The view carries the replayed writes forward; a divergence stops everything anyway.
    if (n > 0) this.view!.reset(await this.checkoutAt(this.state.dbLength), this.state.dbLength)
    const slice = this.opts.slice ?? 64
    const runs: Array<Promise<RunResult[]>> = []
    let next = 0
    const launch = (): void => {
      if (next >= n) return
      const part = calls.slice(next, Math.min(n, next + slice))
      const at = first + next
      next += part.length
      const prev = runs.length > 0 ? runs[runs.length - 1]! : Promise.resolve([])
      const run = prev.then(() => this.execute(at, part))
      run.catch(() => {}) // awaited below; a replay that stops early leaves it unread
      runs.push(run)
    }
    launch()
    const valid = await signatures
    let checked = 0
    for (let r = 0; r < runs.length; r++) {
      const results = await runs[r]!
      launch()
      for (const res of results) {
        const i = checked++
        const e = calls[i]!
        if (!valid[i]) throw badSignature(first + i, e)
        if (res.limit) throw new Inconclusive(`the auditor's sandbox hit a limit at entry ${first + i} (${res.error?.code}) where the host did not: retry with a larger timeoutFactor`)
        this.checkOracles(first + i, e, res)
        this.compareOutcome(first + i, e.outcome, res)
        await this.checkFiles(first + i, e, res.ops)
        this.report.calls++
      }
    }
    if (checked < n) throw new Inconclusive(`the auditor's sandbox stopped early at entry ${first + checked}`)
    if (bad) throw bad
  }

  /**
   * An oracle call during replay: the auditor never runs the oracle; it hands
   * back the output the host logged for this call, in order — if the script
   * asks for the same oracle with the same input at the same point.
   */
  private loggedOracle(name: string, input: string): string {
    const run = this.running
    const fail = '{"error":{"code":"ORACLE_MISMATCH","message":"not the oracle call the log records"}}'
    if (!run) return fail
    const k = run.results.length
    const e = run.calls[k]
    if (!e) return fail
    if (run.callIndex !== k) { run.callIndex = k; run.oraclePos = 0 }
    const rec = e.oracles[run.oraclePos++]
    if (!rec || rec.name !== name || utf8d.decode(rec.input) !== input) {
      run.mismatch ??= { index: run.first + k, expected: rec ? `${rec.name}(${utf8d.decode(rec.input)})` : 'no further oracle call', found: `${name}(${input})` }
      return fail
    }
    return utf8d.decode(rec.output)
  }

  /**
   * What the script reads, from the archive. A read that waits for a peer
   * longer than `readTimeoutMs` fails the call in the sandbox — so the replay
   * is marked starved, and stops inconclusive before it compares that outcome
   * (never a divergence the host did not cause).
   */
  private readFiles(op: ReadOp, path: string, arg?: string): Promise<unknown> {
    return this.within(this.view!.read(op, path, arg), `${path} (read by the script)`).catch((err: Error) => {
      if (err instanceof Inconclusive) this.starved ??= err.message
      throw err
    })
  }

  private async execute(first: number, calls: CallEntry[]): Promise<RunResult[]> {
    const inputs: CallInput[] = calls.map((e) => ({ method: e.method, args: utf8d.decode(e.args), callerId: formatKey(e.publicKey), time: e.time, seed: e.seed }))
    const results: RunResult[] = []
    this.running = { first, calls, results, callIndex: -1, oraclePos: 0, mismatch: null }
    try {
      await this.sandbox!.run(inputs, this.config.timeoutMs * inputs.length, (rs) => {
        for (const r of rs) { results.push(r); this.view!.apply(r.ops) }
      })
    } catch (err) {
      throw new Inconclusive(`the auditor's sandbox crashed replaying entry ${first + results.length}: ${(err as Error).message}`)
    }
    if (this.starved) throw new Inconclusive(this.starved)
    const m = this.running?.mismatch
    if (m) this.oracleMismatches.set(m.index, m)
    this.running = null
    if (results.length < calls.length && results[results.length - 1]?.limit !== true) {
      throw new Inconclusive(`the auditor's sandbox stopped early at entry ${first + results.length}`)
    }
    return results
  }

  /** Start reading the files blocks a stretch of entries claims, while it executes. */
  private prefetch(from: number, to: number): void {
    const db = this.drive.db.core
    const end = Math.min(to, db.length)
    for (let s = from; s < end; s++) if (!this.prefetched.has(s)) this.prefetched.set(s, this.read(db, s))
  }

  private block(seq: number): Promise<Uint8Array | null> {
    const p = this.prefetched.get(seq)
    if (p) { this.prefetched.delete(seq); return p }
    return this.read(this.drive.db.core, seq)
  }

  private async read(db: Hypercore, seq: number): Promise<Uint8Array | null> {
    return (await this.opts.feeds?.files?.get(seq)) ?? this.fetch(db, seq)
  }

  /** A block from the core, waiting for a peer at most `readTimeoutMs`; null if none came (never rejects: reads run ahead). */
  private async fetch(core: Hypercore, index: number): Promise<Uint8Array | null> {
    try {
      return await core.get(index, { timeout: this.readTimeoutMs })
    } catch {
      return null
    }
  }

  private get readTimeoutMs(): number { return this.opts.readTimeoutMs ?? 30000 }

  private unavailable(what: string): Inconclusive {
    return new Inconclusive(`${what} is not available here, and no peer gave it within ${this.readTimeoutMs / 1000} s: is the host or a mirror online (and on the same DHT)?`)
  }

  /** `p`, unless it waits for a peer longer than `readTimeoutMs`: then the replay stops, inconclusive. */
  private within<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | null = null
    p.catch(() => {}) // settles when the cores close, if not before
    return Promise.race([
      p.finally(() => { if (timer) clearTimeout(timer) }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(this.unavailable(what)), this.readTimeoutMs)
      })
    ])
  }

  private checkOracles(index: number, e: CallEntry, r: RunResult): void {
    const m = this.oracleMismatches.get(index)
    if (m) throw diverge(index, 'result-differs', 'the replayed call asks the oracles otherwise than the log records', m.expected, m.found)
    const logged = e.oracles.map((o) => `${o.name}(${utf8d.decode(o.input)}) = ${utf8d.decode(o.output)}`)
    const replayed = r.oracles.map((o) => `${o.name}(${o.input}) = ${o.output}`)
    if (logged.join('\n') !== replayed.join('\n')) {
      throw diverge(index, 'result-differs', 'the replayed call asks the oracles otherwise than the log records', logged.join('; ') || 'no oracle calls', replayed.join('; ') || 'no oracle calls')
    }
  }

  private compareOutcome(index: number, logged: Outcome, r: RunResult): void {
    const found = r.ok ? `result ${r.value || '(undefined)'}` : `error ${r.error?.name}: ${r.error?.message}${r.error?.code ? ' (' + r.error.code + ')' : ''}`
    const expected = logged.ok ? `result ${utf8d.decode(logged.value) || '(undefined)'}` : `error ${logged.error?.name}: ${logged.error?.message}${logged.error?.code ? ' (' + logged.error.code + ')' : ''}`
    if (expected !== found || (r.ok && !b4a.equals(utf8.encode(r.value), logged.value))) {
      throw diverge(index, 'result-differs', 'the replayed outcome differs from the logged one', expected, found)
    }
  }

  /** The archive blocks after the previous state must be exactly this entry's replayed operations. */
  private async checkFiles(index: number, e: LoadEntry | CallEntry | UpgradeEntry, ops: FileOp[]): Promise<void> {
    const db = this.drive.db.core
    const claimed = e.files
    const start = this.state.dbLength
    if (claimed.dbLength !== start + ops.length) {
      throw diverge(index, 'files-tampered', `the entry commits to ${claimed.dbLength - start} file changes; replaying it makes ${ops.length}`,
        `db length ${start + ops.length}`, `db length ${claimed.dbLength}`)
    }
    if (mayGrow(db)) await reach(db, claimed.dbLength)
    if (db.length < claimed.dbLength) throw diverge(index, 'files-tampered', 'the files archive lacks changes this entry commits to', `db length ≥ ${claimed.dbLength}`, `db length ${db.length}`)
    const blocks = await Promise.all(ops.map((_, k) => this.block(start + k)))
    let blobLength = this.blobRoots.length
    for (let k = 0; k < ops.length; k++) {
      const op = ops[k]!
      const block = blocks[k]
      if (!block) throw this.unavailable(`files block ${start + k}`)
      let node
      try { node = BeeNode.decode(block) } catch { throw diverge(index, 'files-tampered', `files block ${start + k} does not decode`, op.op + ' ' + op.path, 'garbage') }
      let value: Uint8Array | null = null
      if (op.op === 'put') {
        const chunks = blobBlocks(op.data)
        value = utf8.encode(JSON.stringify(fileValue({ blockOffset: blobLength, blockLength: chunks.length, byteOffset: this.blobBytes, byteLength: op.data.byteLength }, op.mtime)))
        for (const c of chunks) this.blobRoots.append(c)
        blobLength += chunks.length
        this.blobBytes += op.data.byteLength
      } else if (op.op === 'mkdir') {
        value = utf8.encode(JSON.stringify(dirValue(op.mtime)))
      }
      const key = filesKeyEncoding.encode(op.path)
      const sameValue = value === null ? node.value === null : node.value !== null && b4a.equals(node.value, value)
      if (!b4a.equals(node.key, key) || !sameValue) {
        throw diverge(index, 'files-tampered', `files block ${start + k} is not what the call wrote`,
          `${op.op} ${op.path}${value ? ' ' + utf8d.decode(value) : ''}`,
          `${node.value === null ? 'del' : 'put'} ${safeKey(node.key)}${node.value ? ' ' + utf8d.decode(node.value).slice(0, 200) : ''}`)
      }
      this.dbRoots.append(block)
    }
    if (!b4a.equals(this.dbRoots.hash(), claimed.dbTreeHash)) {
      throw diverge(index, 'files-tampered', 'the files tree hash differs from the one the entry commits to', hex(claimed.dbTreeHash), hex(this.dbRoots.hash()))
    }
    if (this.blobRoots.length !== claimed.blobsLength || !b4a.equals(this.blobRoots.hash(), claimed.blobsTreeHash)) {
      throw diverge(index, 'files-tampered', 'the file contents differ from the ones the entry commits to',
        `blobs ${claimed.blobsLength} ${hex(claimed.blobsTreeHash)}`, `blobs ${this.blobRoots.length} ${hex(this.blobRoots.hash())}`)
    }
    this.state = claimed
  }

  /** The contents the log commits to must be the ones in the blobs core. */
  private async checkBlobsCore(blobsCore: Hypercore, first: number, entries: LogEntry[]): Promise<void> {
    if (this.state.blobsLength === 0) return
    if (mayGrow(blobsCore)) await reach(blobsCore, this.state.blobsLength)
    if (blobsCore.length < this.state.blobsLength) {
      throw diverge(first + entries.length - 1, 'files-tampered', 'the blobs core is shorter than the log says', `length ${this.state.blobsLength}`, `length ${blobsCore.length}`)
    }
    const treeHash = (length: number) => this.within(blobsCore.treeHash(length), `the file contents' tree at length ${length}`)
    const actual = await treeHash(this.state.blobsLength)
    if (b4a.equals(actual, this.state.blobsTreeHash)) return
    for (let j = 0; j < entries.length; j++) {
      const e = entries[j]!
      if (e.type === EntryType.GENESIS) continue
      const found = await treeHash(e.files.blobsLength)
      if (!b4a.equals(found, e.files.blobsTreeHash)) {
        throw diverge(first + j, 'files-tampered', 'the blobs core holds other contents than the entry commits to', hex(e.files.blobsTreeHash), hex(found))
      }
    }
  }
}

/** False for local storage, or a replica with nobody to learn from: nothing more can arrive. */
function mayGrow(core: Hypercore): boolean {
  return !core.writable && core.peers.length > 0
}

/** Resolves true once the log is longer than `length`, false if `signal` aborts first. */
function grown(log: Hypercore, length: number, signal?: AbortSignal): Promise<boolean> {
  if (log.length > length) return Promise.resolve(true)
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const done = (v: boolean) => { log.off('append', onappend); signal?.removeEventListener('abort', onabort); resolve(v) }
    const onappend = () => { if (log.length > length) done(true) }
    const onabort = () => done(false)
    log.on('append', onappend)
    signal?.addEventListener('abort', onabort)
  })
}

function badSignature(index: number, e: CallEntry): Diverged {
  return diverge(index, 'signature-invalid', `the signature of caller ${formatKey(e.publicKey)} does not verify`, 'a valid ed25519 signature over (VM key, method, args, nonce)', hex(e.signature))
}

function diverge(index: number, cls: DivergenceClass, message: string, expected: string, found: string): Diverged {
  return new Diverged({ index, class: cls, message: `entry ${index}: ${message}`, expected, found })
}

function hex(b: Uint8Array): string { return b4a.toString(b, 'hex') }
function safeKey(k: Uint8Array): string {
  try { return filesKeyEncoding.decode(k) } catch { return hex(k) }
}
function describeState(s: FilesState): string {
  return `db ${s.dbLength} ${hex(s.dbTreeHash).slice(0, 16)}…, blobs ${s.blobsLength} ${hex(s.blobsTreeHash).slice(0, 16)}…`
}

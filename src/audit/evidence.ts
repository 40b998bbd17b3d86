/**
 * Portable evidence of a divergence, checkable by anyone without trusting the
 * auditor who made it. Everything a report relies on is reached from the VM
 * key by a chain the verifier checks itself: the log is the VM key; the files
 * archive's key comes from the genesis; its contents core's key from the
 * archive's header (or its manifest, as hyperdrive derives it); every core's
 * blocks must be what its signer signed. A report naming anything else is
 * invalid, whatever it claims. Each field is checked before it is used.
 *
 * Kinds:
 * - a replay divergence (version 1): the three cores; the verifier replays
 *   the one stretch from its checkpoint, and the fraud is proven only if its
 *   own replay finds the same divergence at the same entry;
 * - equivocation (version 2): a head of the log the host signed before, and
 *   the log as it is now; proven if the log does not extend that head;
 * - files no entry accounts for (version 2, `files-unlogged`): the three
 *   cores, the auditor's request naming the archive it held, and the host's
 *   signed statement of what its log commits to, made after it saw that
 *   request; proven if the statement contradicts what the host signed.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import Corestore from 'corestore'
import type Hyperdrive from 'hyperdrive'
import { formatKey, toKey } from '../identity.js'
import { exportSignedCore, checkSignedCore, blobsKeyOf, rebuildVm, type SignedCore, type SignedVm } from './signed-cores.js'
import { headFromJson, headToJson, verifyHead, treeHashOfBlocks, type Head } from './head-book.js'
import { decodeEntry, EntryType, type LogEntry, type Genesis } from '../messages/index.js'
import type { SignedHead } from '../messages/wire.js'
import { replay, type Divergence } from './replay.js'
import { checkUnloggedClaim } from './unlogged.js'

/** A divergence found by replaying a stretch (version 1, as reports always were). */
export interface ReplayEvidence extends SignedVm {
  version: 1
  vmKey: string
  divergence: Divergence
  /** The load entry the verifier replays from. */
  checkpoint: number
}

/** The host signed a head its log no longer extends. */
export interface EquivocationEvidence {
  version: 2
  kind: 'equivocation'
  vmKey: string
  divergence: Divergence
  /** The head the auditor verified before, as the host signed it. */
  before: Head
  /** The log as the auditor found it later. */
  log: SignedCore
}

/** The archive held files past what the log commits to, and the host's own signed statement says so. */
export interface UnloggedEvidence extends SignedVm {
  version: 2
  kind: 'unlogged'
  vmKey: string
  divergence: Divergence
  /** The auditor's request (hex, `filesStateRequest`): the archive heads it held. */
  request: string
  /** The host's signed answer (hex, `filesStateStatement`). */
  statement: string
}

export type Evidence = ReplayEvidence | EquivocationEvidence | UnloggedEvidence

/** The divergence classes a replay can prove. */
const REPLAY_CLASSES = ['files-tampered', 'result-differs', 'signature-invalid', 'malformed-entry']

/** Gather the evidence for `divergence` from a replica of the VM (host storage or a volunteer's copy). */
export async function makeEvidence(source: { log: Hypercore; drive: Hyperdrive }, divergence: Divergence): Promise<ReplayEvidence> {
  const { log, drive } = source
  let checkpoint = 1
  for (let i = Math.min(divergence.index, log.length - 1); i >= 1; i--) {
    let e
    try { e = decodeEntry((await log.get(i))!, i) } catch { continue } // the malformed entry itself, in that class
    if (e.type === EntryType.LOAD || e.type === EntryType.UPGRADE) { checkpoint = i; break }
  }
  return {
    version: 1,
    vmKey: formatKey(log.key),
    divergence,
    checkpoint,
    log: await exportSignedCore(log),
    db: await exportSignedCore(drive.db.core),
    blobs: await exportSignedCore((await drive.getBlobs()).core)
  }
}

/** Evidence of equivocation: the head signed before, and the log as it is. */
export async function makeEquivocationEvidence(log: Hypercore, before: SignedHead, divergence: Divergence): Promise<EquivocationEvidence> {
  return { version: 2, kind: 'equivocation', vmKey: formatKey(log.key), divergence, before: headToJson(before), log: await exportSignedCore(log) }
}

/** `reason` starts with "fraud proven: " or "report invalid: ". */
export interface Verdict { proven: boolean; reason: string }

const invalid = (reason: string): Verdict => ({ proven: false, reason: `report invalid: ${reason}` })
const proven = (reason: string): Verdict => ({ proven: true, reason: `fraud proven: ${reason}` })
const whole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** Verify evidence independently: what it is tied to, its signatures, then its claim. */
export async function verifyEvidence(ev: unknown, opts: { tmpdir: string }): Promise<Verdict> {
  if (typeof ev !== 'object' || ev === null) return invalid('a report is a JSON object')
  const e = ev as Record<string, unknown>
  let vmKey: Buffer
  try { vmKey = toKey(e.vmKey as string) } catch { return invalid('the report names no valid VM key') }
  const d = e.divergence as Divergence | undefined
  if (typeof d !== 'object' || d === null || !whole(d.index) || typeof d.class !== 'string') return invalid('the report claims no divergence (an entry index and a class)')
  const logFail = checkSignedCore('log', e.log as SignedCore, vmKey)
  if (logFail) return invalid(logFail)
  if (e.version === 1) return verifyReplay(ev as ReplayEvidence, vmKey, opts)
  if (e.version === 2 && e.kind === 'equivocation') return verifyEquivocation(ev as EquivocationEvidence, vmKey)
  if (e.version === 2 && e.kind === 'unlogged') return verifyUnlogged(ev as UnloggedEvidence, vmKey)
  return invalid(`unknown report version ${String(e.version)}${e.kind === undefined ? '' : ` (${String(e.kind)})`}`)
}

/** The archive's cores, tied to the VM: the files key from the genesis, the contents key from the archive. */
function checkArchiveCores(ev: SignedVm, genesis: Genesis): string | null {
  const dbFail = checkSignedCore('files', ev.db, genesis.filesKey)
  if (dbFail) return dbFail
  const blobsKey = blobsKeyOf(ev.db)
  if (typeof blobsKey === 'string') return blobsKey
  return checkSignedCore('blobs', ev.blobs, blobsKey)
}

function entryAt(log: SignedCore, i: number): LogEntry | null {
  try { return decodeEntry(b4a.from(log.blocks[i]!, 'hex'), i) } catch { return null }
}

/**
 * A load entry before `index` says the archive was rolled back after a crash
 * (vms-node before 0.2 truncated files no entry accounted for): an archive on
 * a later fork is then what an honest host of that version left.
 */
function rollbackBefore(log: SignedCore, index: number): number | null {
  for (let i = 1; i < Math.min(index, log.blocks.length); i++) {
    const e = entryAt(log, i)
    if (e && e.type === EntryType.LOAD && e.note.includes('rolled back')) return i
  }
  return null
}

async function verifyReplay(ev: ReplayEvidence, vmKey: Buffer, opts: { tmpdir: string }): Promise<Verdict> {
  const d = ev.divergence
  if (!REPLAY_CLASSES.includes(d.class)) return invalid(`a replay cannot prove ${d.class}`)
  if (d.index >= ev.log.length) return invalid(`entry ${d.index} is past the log's signed length ${ev.log.length}: the report does not hold it`)
  const genesis = entryAt(ev.log, 0)
  if (!genesis || genesis.type !== EntryType.GENESIS) {
    // The host signed a log whose first entry is not a genesis: that alone is the claim, and it holds.
    return d.index === 0 && d.class === 'malformed-entry' ? proven('log entry 0, signed by the host, is not a genesis') : invalid('log entry 0 is not a genesis')
  }
  const archiveFail = checkArchiveCores(ev, genesis)
  if (archiveFail) return invalid(archiveFail)
  if (!whole(ev.checkpoint) || ev.checkpoint < 1 || ev.checkpoint > d.index) return invalid(`the checkpoint must be a load entry from 1 to the claimed entry ${d.index}; it is ${String(ev.checkpoint)}`)
  const start = entryAt(ev.log, ev.checkpoint)
  if (!start || (start.type !== EntryType.LOAD && start.type !== EntryType.UPGRADE)) return invalid(`entry ${ev.checkpoint} is not a load (or upgrade) entry: a replay starts at one`)
  // The archive in the report must reach what the claimed entry commits to: an older signed head of it
  // (a report can pair one with a newer log) proves nothing about the files it does not hold.
  const claimed = entryAt(ev.log, d.index)
  if (claimed && claimed.type !== EntryType.GENESIS && (claimed.files.dbLength > ev.db.length || claimed.files.blobsLength > ev.blobs.length)) {
    return invalid(`the report's files archive (${ev.db.length} hyperbee and ${ev.blobs.length} blobs blocks) is shorter than entry ${d.index} commits to: it proves nothing of those files`)
  }
  if (ev.db.fork > 0 || ev.blobs.fork > 0) {
    const r = rollbackBefore(ev.log, d.index)
    if (r !== null) return invalid(`the archive was rolled back after a crash (load entry ${r} says so), as vms-node before 0.2 did: files it signed then and took back cannot prove fraud`)
  }

  // Rebuild the three cores locally (new keys; the same blocks, so the same tree hashes).
  const store = new Corestore(opts.tmpdir)
  try {
    const { log, drive } = await rebuildVm(store, ev)
    // Files past the last entry are not a replay's to judge here: a report can pair a log with a later archive.
    const report = await replay({ log, drive }, {
      from: ev.checkpoint,
      to: d.index + 1,
      checkTrailing: false,
      keys: { vm: vmKey, files: genesis.filesKey }
    })
    await drive.close()
    if (report.ok) return invalid(`entries ${ev.checkpoint}–${d.index} replay clean`)
    const found = report.divergence
    if (!found) return invalid(`the replay could not finish (${report.inconclusive})`)
    if (found.class !== d.class || found.index !== d.index) {
      return invalid(`the replay finds ${found.class} at entry ${found.index}, the report claims ${d.class} at ${d.index}`)
    }
    return proven(found.message)
  } finally {
    await store.close()
  }
}

function verifyEquivocation(ev: EquivocationEvidence, vmKey: Buffer): Verdict {
  if (ev.divergence.class !== 'equivocation') return invalid(`an equivocation report claims ${ev.divergence.class}`)
  const before = typeof ev.before === 'object' && ev.before !== null && whole(ev.before.length) && whole(ev.before.fork) ? headFromJson(ev.before) : null
  if (!before) return invalid('the head verified before is not a signed head (length, fork, tree hash, signer, signature)')
  if (!verifyHead(vmKey, before)) return invalid('the head verified before is not signed by this VM\'s host')
  const log = ev.log
  // An honest host never truncates its log, so its fork never changes: a log on a later fork that is
  // shorter took back entries signed before. An older copy of the log (same fork, shorter) proves nothing.
  if (log.fork > before.fork && log.length < before.length) {
    return proven(`the host signed its log at length ${before.length} (fork ${before.fork}), and later, on fork ${log.fork}, at length ${log.length}: it took back entries it had signed`)
  }
  if (log.length < before.length) return invalid(`the report's log (length ${log.length}, fork ${log.fork}) is not later than the head it names (length ${before.length}, fork ${before.fork}): it proves nothing`)
  const now = treeHashOfBlocks(log.blocks.map((b) => b4a.from(b, 'hex')), before.length)
  if (b4a.equals(now, before.treeHash)) return invalid(`the log extends the head verified before (length ${before.length}): no other history`)
  return proven(`the host signed two histories: at length ${before.length} its log's tree hash was ${b4a.toString(before.treeHash, 'hex').slice(0, 16)}… (fork ${before.fork}), and ${b4a.toString(now, 'hex').slice(0, 16)}… in the log it signed at length ${log.length} (fork ${log.fork})`)
}

function verifyUnlogged(ev: UnloggedEvidence, vmKey: Buffer): Verdict {
  if (ev.divergence.class !== 'files-unlogged') return invalid(`a files-unlogged report claims ${ev.divergence.class}`)
  const genesis = entryAt(ev.log, 0)
  if (!genesis || genesis.type !== EntryType.GENESIS) return invalid('log entry 0 is not a genesis')
  const archiveFail = checkArchiveCores(ev, genesis)
  if (archiveFail) return invalid(archiveFail)
  const r = checkUnloggedClaim(vmKey, ev)
  return r.proven ? proven(r.reason) : invalid(r.reason)
}


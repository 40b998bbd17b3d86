/**
 * A volunteer's audit of a VM over the swarm: replicate its log and files
 * archive from whichever peers have them (host or mirrors; the log and the
 * hyperbee in checked bulk stretches where a peer serves them), check that the
 * history extends the head this volunteer verified before (equivocation),
 * replay every entry, and look for files past the log (audit/unlogged.ts);
 * then remember the head, attest, and on a divergence write evidence anyone
 * can check. Loaded by VmsNode.audit only where the sandbox runs.
 */
import { writeFile } from 'node:fs/promises'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { formatKey } from '../identity.js'
import { BlockCore } from '../messages/wire.js'
import { decodeEntry } from '../messages/index.js'
import { replay, checkStretch, type ReplayOptions, type ReplayReport, type Divergence } from '../audit/replay.js'
import { BlockFeed } from '../audit/block-feed.js'
import { makeEvidence, makeEquivocationEvidence } from '../audit/evidence.js'
import { headToRemember, headFromJson, equivocation, settleForks, currentHead, type HeadBook } from '../audit/head-book.js'
import { checkFilesPastLog, type FilesPastLog } from '../audit/unlogged.js'
import { openReplica, downloadAll, keepAll, auditExtent, type ReplicaProgress } from '../audit/swarm-replica.js'
import { watchConflicts, type Equivocation } from './head-exchange.js'
import type { VmHandle } from '../client/vm-handle.js'

export type AuditOptions = Omit<ReplayOptions, 'checkTrailing' | 'feeds'> & { onReplicate?: (p: ReplicaProgress) => void; attest?: boolean; report?: string; bulk?: boolean }

/** What an audit uses of its node. */
export interface AuditComponents {
  store: Corestore
  swarm: Hyperswarm
  heads: HeadBook
  timeoutMs: number | undefined
  onEquivocation(e: Equivocation): void
  /** A handle on the VM's peers (released after). */
  borrowHandle(key: Buffer, timeoutMs: number): Promise<{ handle: VmHandle; release(): Promise<void> }>
  /** Send an attestation of entries 0..length-1 to the VM's peers. */
  attest(key: Buffer, length: number, treeHash: Uint8Array): Promise<void>
}

export async function auditOverSwarm(c: AuditComponents, k: Buffer, opts: AuditOptions): Promise<ReplayReport> {
  checkStretch(opts)
  const replica = await openReplica(c.store, c.swarm, k, { timeoutMs: c.timeoutMs })
  watchConflicts(replica.log, k, c.onEquivocation)
  let bulk: Awaited<ReturnType<typeof bulkFeeds>> = null
  try {
    // Stretches of blocks in bulk, each checked against the signed trees; plain replication if no peer serves them.
    bulk = opts.bulk === false ? null : await bulkFeeds(c, k, replica, opts.onReplicate)
    if (!bulk) await downloadAll(replica, opts.onReplicate)
    if (opts.follow) await keepAll(replica, bulk ? { log: bulk.feeds.log.end, files: bulk.feeds.files.end } : {})
    // Whatever this node verified before must still be there, unchanged.
    await settleForks(replica.log)
    const known = await c.heads.get(k)
    const broken = known && await equivocation(replica.log, known)
    if (known && broken) {
      const now = await currentHead(replica.log)
      const divergence: Divergence = {
        index: Math.min(known.length, replica.log.length), class: 'equivocation', message: broken,
        expected: `the head verified before: ${JSON.stringify(known)}`, found: `the head now: length ${replica.log.length}, fork ${replica.log.fork}${now ? '' : ' (unsigned)'}`
      }
      const before = headFromJson(known)
      if (opts.report && before) {
        // Both signed heads, and the log as it is now: anyone can check the host signed two histories.
        await writeFile(opts.report, JSON.stringify(await makeEquivocationEvidence(replica.log, before, divergence)))
      }
      return {
        ok: false, vmKey: formatKey(k), from: 0, to: replica.log.length, calls: 0, loads: 0, inconclusive: null,
        notes: before ? [] : ['the head verified before was kept by an earlier vms-node without its signature: no evidence can be made of it'],
        start: null, files: null, divergence
      }
    }
    // An attestation says "entries 0..N-1 checked out": only an audit from the genesis may make one.
    const attest = opts.attest !== false && (opts.from ?? 1) <= 1
    // Files past the log's last entry: does the host's own statement say they stay there? (audit/unlogged.ts)
    const timeoutMs = c.timeoutMs ?? 15000
    const pastLog = async (verified: number): Promise<FilesPastLog | null> => {
      if (verified < 1) return null
      const last = decodeEntry((await replica.log.get(verified - 1))!, verified - 1)
      return checkFilesPastLog(k, replica, verified, last.files, async (query) => {
        const { handle, release } = await c.borrowHandle(k, timeoutMs)
        try { return await handle.filesState(query, timeoutMs) } finally { await release() }
      })
    }
    // A follower checks whenever it has caught up and the log stands still; it stops at a proven divergence.
    let unlogged: FilesPastLog | null = null
    let verifiedSoFar = 0
    const stop = new AbortController()
    const watch = opts.follow ? followFilesPastLog(opts.follow.signal, stop, () => verifiedSoFar === replica.log.length ? verifiedSoFar : 0, pastLog, (found) => { unlogged = found }) : null
    const report = await replay(replica, {
      ...opts,
      feeds: bulk?.feeds,
      checkTrailing: false,
      follow: opts.follow && {
        ...opts.follow,
        signal: stop.signal,
        onVerified: (length) => {
          verifiedSoFar = length
          headToRemember(replica.log, length).then(async (h) => {
            await c.heads.set(k, h)
            if (attest) await c.attest(k, length, await replica.log.treeHash(length))
          }).catch(() => {})
          opts.follow!.onVerified?.(length)
        }
      }
    }).finally(() => watch?.close())
    // (Only when the audit reached the log's end: a stretch stops short of it on purpose.)
    if (report.ok && !opts.follow && report.to === replica.log.length) {
      unlogged = await pastLog(report.to)
      if (unlogged?.note) report.notes.push(unlogged.note)
    }
    const found = unlogged as FilesPastLog | null
    if (found?.divergence && report.ok) {
      report.ok = false
      report.divergence = found.divergence
    }
    if (report.divergence && opts.report) {
      // Evidence anyone can check without trusting this node: `vms-node verify-report`.
      await writeFile(opts.report, JSON.stringify(found?.evidence ?? await makeEvidence(replica, report.divergence)))
    }
    if (report.ok) {
      await c.heads.set(k, await headToRemember(replica.log, report.to))
      if (attest) await c.attest(k, report.to, await replica.log.treeHash(report.to))
    }
    if (bulk) {
      const failed = bulk.feeds.log.failure ?? bulk.feeds.files.failure
      report.fetched = { bulk: bulk.feeds.log.verified + bulk.feeds.files.verified, fallback: failed }
    }
    return report
  } finally {
    await bulk?.close()
    await replica.close()
  }
}

/**
 * Feeds of the log's and the files hyperbee's blocks, fetched in bulk from
 * the peers of a VM (host or mirrors) up to what the log's last entry
 * commits to. Null when no peer answers on the VM's channel.
 */
async function bulkFeeds(c: AuditComponents, key: Buffer, replica: { log: Hypercore; drive: Hyperdrive }, onProgress?: (p: ReplicaProgress) => void): Promise<{ feeds: { log: BlockFeed; files: BlockFeed }; close(): Promise<void> } | null> {
  const { log, drive } = replica
  const timeoutMs = c.timeoutMs ?? 15000
  const { log: length, files: filesEnd } = await auditExtent(replica, timeoutMs)
  if (length === 0) return null
  const borrowed = await c.borrowHandle(key, timeoutMs).catch(() => null)
  if (!borrowed) return null
  const { handle, release } = borrowed
  return {
    feeds: {
      log: new BlockFeed(log, (a, b) => handle.blocks(BlockCore.LOG, a, b), { end: length, timeoutMs, onVerified: (have) => onProgress?.({ phase: 'log', have, total: length }) }),
      files: new BlockFeed(drive.db.core, (a, b) => handle.blocks(BlockCore.FILES, a, b), { end: filesEnd, timeoutMs, onVerified: (have) => onProgress?.({ phase: 'files', have, total: filesEnd }) })
    },
    close: release
  }
}

/**
 * While an audit follows a log: every FOLLOW_CHECK_MS, once it has verified
 * all the log holds (`caughtUp` gives that length, or 0), check for files past
 * the log; a proven divergence is handed to `onFound` and stops the follow
 * (`stop`), as the caller's own `signal` does.
 */
function followFilesPastLog(signal: AbortSignal | undefined, stop: AbortController, caughtUp: () => number, check: (verified: number) => Promise<FilesPastLog | null>, onFound: (f: FilesPastLog) => void): { close(): void } {
  const onAbort = () => stop.abort()
  if (signal?.aborted) stop.abort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  let checking = false
  let checked = 0
  const timer = setInterval(() => {
    const verified = caughtUp()
    if (checking || verified === 0 || verified === checked) return
    checking = true
    check(verified).then((found) => {
      checked = verified
      if (found?.divergence) { onFound(found); stop.abort() }
    }, () => {}).finally(() => { checking = false })
  }, FOLLOW_CHECK_MS)
  return { close() { clearInterval(timer); signal?.removeEventListener('abort', onAbort) } }
}

/** How often a following audit looks for files past the log (when caught up). */
const FOLLOW_CHECK_MS = 2000

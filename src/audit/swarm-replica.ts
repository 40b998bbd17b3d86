/**
 * A VM's log and files archive as a volunteer holds them: replicated from
 * whichever peers have them (the host or mirrors).
 */
import Hyperdrive from 'hyperdrive'
import type Hypercore from 'hypercore'
import type Corestore from 'corestore'
import type Hyperswarm from 'hyperswarm'
import crypto from 'hypercore-crypto'
import { VmsError } from '../errors.js'
import { decodeEntry, EntryType } from '../messages/index.js'
import { formatKey } from '../identity.js'

export interface Replica { log: Hypercore; drive: Hyperdrive; announced: Promise<void>; close(): Promise<void> }

export interface ReplicaProgress { phase: 'log' | 'files'; have: number; total: number }

/** Open (and with `download`, fetch all of) a VM's log and archive from the swarm. */
export async function openReplica(store: Corestore, swarm: Hyperswarm, key: Buffer, opts: { server?: boolean; timeoutMs?: number; onProgress?: (p: ReplicaProgress) => void } = {}): Promise<Replica> {
  const log = store.get({ key })
  await log.ready()
  const discovery = swarm.join(crypto.discoveryKey(key), { client: true, server: !!opts.server })
  const done = log.findingPeers()
  swarm.flush().then(done, done)
  const deadline = Date.now() + (opts.timeoutMs ?? 15000)
  while (log.length === 0) {
    await log.update({ wait: true })
    if (log.length > 0) break
    if (Date.now() > deadline) {
      // Found nothing: stop looking (and, for a mirror, announcing a VM it does not have).
      await discovery.destroy().catch(() => {})
      await log.close()
      throw new VmsError('HOST_OFFLINE', `no peer has the log of VM ${formatKey(key)}: is it served or mirrored, and are you on the same DHT (--bootstrap)?`)
    }
    await new Promise((r) => setTimeout(r, 200))
    await discovery.refresh({ client: true, server: !!opts.server }).catch(() => {})
  }
  const genesis = decodeEntry((await log.get(0))!, 0)
  if (genesis.type !== EntryType.GENESIS) throw new VmsError('MALFORMED_ENTRY', 'log entry 0 is not a genesis')
  const drive = new Hyperdrive(store.session(), Buffer.from(genesis.filesKey)) // a session: closing the drive closes it alone
  await drive.ready()
  return {
    log,
    drive,
    announced: discovery.flushed(),
    async close() {
      await drive.close()
      await log.close()
    }
  }
}

/**
 * How far an audit reads: the log's length now, and the archive's hyperbee up
 * to what the log's last entry commits to (waiting a while for the replica to
 * learn that length; a hyperbee that never gets there is taken as it is, and
 * the replay names the entry whose files are missing).
 */
export async function auditExtent(replica: { log: Hypercore; drive: Hyperdrive }, timeoutMs = 15000): Promise<{ log: number; files: number }> {
  const { log, drive } = replica
  await log.update({ wait: true })
  if (log.length === 0) return { log: 0, files: 0 }
  const block = await log.get(log.length - 1, { timeout: timeoutMs }).catch(() => null)
  if (!block) throw new VmsError('HOST_OFFLINE', `log entry ${log.length - 1} did not arrive within ${timeoutMs} ms: is the host or a mirror online?`)
  const db = drive.db.core
  let dbLength: number
  try {
    dbLength = decodeEntry(block, log.length - 1).files.dbLength
  } catch {
    dbLength = db.length // a malformed last entry: the replay names it
  }
  await reach(db, dbLength)
  return { log: log.length, files: Math.min(dbLength, db.length) }
}

/** A replica may lag the log it follows: give it a moment (`timeoutMs`) to learn that `core` is `length` long. */
export async function reach(core: Hypercore, length: number, timeoutMs = 10000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (core.length < length && Date.now() < end) {
    await core.update({ wait: true })
    if (core.length < length) await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Fetch what an audit reads: the whole log, and the archive's hyperbee up to
 * what the log commits to. File contents are not fetched: the replay checks
 * them against the blobs tree hash each entry commits to, and a script that
 * reads a file gets its blocks on demand. (Replaying while this runs was
 * measured slower: the volunteer is CPU-bound either way.)
 */
export async function downloadAll(replica: Replica, onProgress?: (p: ReplicaProgress) => void): Promise<void> {
  await auditExtent(replica)
  // The cores download side by side.
  await Promise.all([fetch(replica.log, 'log', onProgress), fetch(replica.drive.db.core, 'files', onProgress)])
}

/** Keep downloading everything (from `from`, where given), now and as it grows (live). */
export async function keepAll(replica: Replica, from: { log?: number; files?: number; blobs?: number | false } = {}): Promise<void> {
  const live = (core: Hypercore, start = 0) => core.download({ start, end: -1 })
  live(replica.log, from.log)
  live(replica.drive.db.core, from.files)
  if (from.blobs !== false) live((await replica.drive.getBlobs()).core, from.blobs)
}

async function fetch(core: Hypercore, phase: 'log' | 'files', onProgress?: (p: ReplicaProgress) => void): Promise<void> {
  const total = core.length
  if (total === 0) return
  const range = core.download({ start: 0, end: total })
  const tick = onProgress ? setInterval(() => onProgress({ phase, have: core.contiguousLength, total }), 250) : null
  try {
    await range.done()
  } finally {
    if (tick) clearInterval(tick)
  }
  onProgress?.({ phase, have: total, total })
}

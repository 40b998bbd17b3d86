/**
 * Portable evidence of a divergence, checkable by anyone without trusting the
 * auditor: the host-signed log and files archive (every block up to each
 * core's signed head, with the signature and the core's manifest), and the
 * claim (entry, class, checkpoint). The verifier checks the signatures,
 * rebuilds the cores locally, and replays the one stretch from its checkpoint:
 * the fraud is proven only if its own replay finds the same divergence. A
 * report about an honest host cannot verify, whatever it claims.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import Corestore from 'corestore'
import type Hyperdrive from 'hyperdrive'
import { formatKey, toKey } from '../identity.js'
import { exportSignedCore, checkSignedCore, rebuildVm, type SignedVm } from './signed-cores.js'
import { decodeEntry, EntryType } from '../messages/index.js'
import { replay, type Divergence } from './replay.js'

export interface Evidence extends SignedVm {
  version: 1
  vmKey: string
  divergence: Divergence
  /** The load entry the verifier replays from. */
  checkpoint: number
}

/** Gather the evidence for `divergence` from a replica of the VM (host storage or a volunteer's copy). */
export async function makeEvidence(source: { log: Hypercore; drive: Hyperdrive }, divergence: Divergence): Promise<Evidence> {
  const { log, drive } = source
  let checkpoint = 1
  for (let i = Math.min(divergence.index, log.length - 1); i >= 1; i--) {
    let e
    try { e = decodeEntry((await log.get(i))!, i) } catch { continue } // the malformed entry itself, in that class
    if (e.type === EntryType.LOAD) { checkpoint = i; break }
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

/** `reason` starts with "fraud proven: " or "report invalid: ". */
export interface Verdict { proven: boolean; reason: string }

const invalid = (reason: string): Verdict => ({ proven: false, reason: `report invalid: ${reason}` })

/** Verify evidence independently: signatures, then a replay of the one stretch. */
export async function verifyEvidence(ev: Evidence, opts: { tmpdir: string }): Promise<Verdict> {
  if (ev.version !== 1) return invalid(`unknown report version ${ev.version}`)
  let vmKey: Buffer
  try { vmKey = toKey(ev.vmKey) } catch { return invalid('the report names no valid VM key') }
  const logFail = checkSignedCore('log', ev.log, vmKey)
  if (logFail) return invalid(logFail)
  const genesis = decodeEntry(b4a.from(ev.log.blocks[0]!, 'hex'), 0)
  if (genesis.type !== EntryType.GENESIS) return invalid('log entry 0 is not a genesis')
  const dbFail = checkSignedCore('files', ev.db, genesis.filesKey)
  if (dbFail) return invalid(dbFail)
  const blobsFail = checkSignedCore('blobs', ev.blobs, null)
  if (blobsFail) return invalid(blobsFail)

  // Rebuild the three cores locally (new keys; the same blocks, so the same tree hashes).
  const store = new Corestore(opts.tmpdir)
  try {
    const { log, drive } = await rebuildVm(store, ev)
    const d = ev.divergence
    const report = await replay({ log, drive }, {
      from: ev.checkpoint,
      to: Math.min(d.index + 1, log.length),
      keys: { vm: vmKey, files: genesis.filesKey }
    })
    await drive.close()
    if (report.ok) return invalid(`entries ${ev.checkpoint}–${Math.min(d.index, log.length - 1)} replay clean`)
    const found = report.divergence
    if (!found) return invalid(`the replay could not finish (${report.inconclusive})`)
    if (found.class !== d.class || found.index !== d.index) {
      return invalid(`the replay finds ${found.class} at entry ${found.index}, the report claims ${d.class} at ${d.index}`)
    }
    return { proven: true, reason: `fraud proven: ${found.message}` }
  } finally {
    await store.close()
  }
}

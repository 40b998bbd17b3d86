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
import crypto from 'hypercore-crypto'
import Hypercore from 'hypercore'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperbee from 'hyperbee'
import Hyperblobs from 'hyperblobs'
import caps from 'hypercore/lib/caps.js'
import { MerkleRoots, rawSignature } from '../merkle.js'
import { formatKey, toKey } from '../identity.js'
import { decodeEntry, EntryType } from '../messages/index.js'
import { replay, type Divergence } from './replay.js'

export interface SignedCore {
  /** The core's key, hex. */
  key: string
  /** The core's manifest (hypercore encoding), hex: names the signer. */
  manifest: string
  length: number
  fork: number
  /** The signer's ed25519 signature over the core's tree at `length`, hex. */
  signature: string
  /** Every block, hex. */
  blocks: string[]
}

export interface Evidence {
  version: 1
  vmKey: string
  divergence: Divergence
  /** The load entry the verifier replays from. */
  checkpoint: number
  log: SignedCore
  db: SignedCore
  blobs: SignedCore
}

async function signedCore(core: Hypercore): Promise<SignedCore> {
  const raw = core.state.signature
  if (!raw) throw new Error('the core has no signed head yet')
  const signature = rawSignature(raw)
  // An auditor's replica lacks the file contents (the audit checks them by tree hash):
  // fetch what is missing as one range, pipelined, not block by block as they are read.
  if (core.contiguousLength < core.length) await core.download({ start: 0, end: core.length }).done()
  const blocks: string[] = []
  for (let i = 0; i < core.length; i++) blocks.push(b4a.toString((await core.get(i))!, 'hex'))
  return {
    key: b4a.toString(core.key, 'hex'),
    manifest: b4a.toString((core as unknown as { getManifest(o: { raw: true }): Buffer }).getManifest({ raw: true }), 'hex'),
    length: core.length,
    fork: core.fork,
    signature: b4a.toString(signature, 'hex'),
    blocks
  }
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
    log: await signedCore(log),
    db: await signedCore(drive.db.core),
    blobs: await signedCore((await drive.getBlobs()).core)
  }
}

/** Check a core's blocks against its signed head. Returns the reason it fails, or null. */
function checkCore(what: string, sc: SignedCore, expectedKey: Uint8Array | null): string | null {
  const key = b4a.from(sc.key, 'hex')
  if (expectedKey && !b4a.equals(key, expectedKey)) return `the ${what} core is not the one this VM names`
  const manifest = b4a.from(sc.manifest, 'hex')
  if (!b4a.equals(Hypercore.key(manifest), key)) return `the ${what} core's manifest does not hash to its key`
  const parsed = (Hypercore as unknown as { parseManifest(m: Uint8Array): { signers: Array<{ publicKey: Uint8Array }> } }).parseManifest(manifest)
  const signer = parsed.signers[0]?.publicKey
  if (!signer) return `the ${what} core's manifest names no signer`
  if (sc.blocks.length !== sc.length) return `the ${what} core's blocks do not reach its signed length`
  const roots = new MerkleRoots()
  for (const b of sc.blocks) roots.append(b4a.from(b, 'hex'))
  const signable = caps.treeSignable(key, roots.hash(), sc.length, sc.fork)
  if (!crypto.verify(signable, b4a.from(sc.signature, 'hex'), signer)) return `the ${what} core's blocks are not what its signer signed`
  return null
}

/** `reason` starts with "fraud proven: " or "report invalid: ". */
export interface Verdict { proven: boolean; reason: string }

const invalid = (reason: string): Verdict => ({ proven: false, reason: `report invalid: ${reason}` })

/** Verify evidence independently: signatures, then a replay of the one stretch. */
export async function verifyEvidence(ev: Evidence, opts: { tmpdir: string }): Promise<Verdict> {
  if (ev.version !== 1) return invalid(`unknown report version ${ev.version}`)
  let vmKey: Buffer
  try { vmKey = toKey(ev.vmKey) } catch { return invalid('the report names no valid VM key') }
  const logFail = checkCore('log', ev.log, vmKey)
  if (logFail) return invalid(logFail)
  const genesis = decodeEntry(b4a.from(ev.log.blocks[0]!, 'hex'), 0)
  if (genesis.type !== EntryType.GENESIS) return invalid('log entry 0 is not a genesis')
  const dbFail = checkCore('files', ev.db, genesis.filesKey)
  if (dbFail) return invalid(dbFail)
  const blobsFail = checkCore('blobs', ev.blobs, null)
  if (blobsFail) return invalid(blobsFail)

  // Rebuild the three cores locally (new keys; the same blocks, so the same tree hashes).
  const store = new Corestore(opts.tmpdir)
  try {
    const log = store.get({ name: 'log' })
    const db = store.get({ name: 'db' })
    const blobs = store.get({ name: 'blobs' })
    await Promise.all([log.ready(), db.ready(), blobs.ready()])
    const hex = (l: string[]) => l.map((b) => b4a.from(b, 'hex'))
    if (ev.log.blocks.length) await log.append(hex(ev.log.blocks))
    if (ev.db.blocks.length) await db.append(hex(ev.db.blocks))
    if (ev.blobs.blocks.length) await blobs.append(hex(ev.blobs.blocks))
    const bee = new Hyperbee(db, { keyEncoding: 'utf-8', valueEncoding: 'json' })
    const drive = new Hyperdrive(store.session(), { _db: bee } as never)
    await drive.ready()
    ;(drive as unknown as { blobs: unknown }).blobs = new Hyperblobs(blobs)
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

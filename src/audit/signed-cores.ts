/**
 * A core as its signer signed it, portable: every block up to a signed
 * length, the signature, and the manifest that names the signer. Evidence of
 * a divergence carries a VM's three cores this way; anyone checks them
 * against their signed heads and rebuilds them locally to replay.
 */
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import Hypercore from 'hypercore'
import type Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import Hyperbee from 'hyperbee'
import Hyperblobs from 'hyperblobs'
import caps from 'hypercore/lib/caps.js'
import { MerkleRoots, rawSignature } from '../merkle.js'

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

/** A VM's three cores, signed: the log, the files hyperbee and the file contents. */
export interface SignedVm {
  log: SignedCore
  db: SignedCore
  blobs: SignedCore
}

/** Every block of `core` up to its length, with the signature at that length. */
export async function exportSignedCore(core: Hypercore): Promise<SignedCore> {
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

/** Check a core's blocks against its signed head. Returns the reason it fails, or null. */
export function checkSignedCore(what: string, sc: SignedCore, expectedKey: Uint8Array | null): string | null {
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

/**
 * The three cores rebuilt in `store`, as a log and a drive a replay takes
 * (new keys, the same blocks, so the same tree hashes: replay them with
 * `keys: { vm, files }` naming the originals). Close the drive, then the store.
 */
export async function rebuildVm(store: Corestore, vm: SignedVm): Promise<{ log: Hypercore; drive: Hyperdrive }> {
  const log = store.get({ name: 'log' })
  const db = store.get({ name: 'db' })
  const blobs = store.get({ name: 'blobs' })
  await Promise.all([log.ready(), db.ready(), blobs.ready()])
  const hex = (l: string[]) => l.map((b) => b4a.from(b, 'hex'))
  if (vm.log.blocks.length) await log.append(hex(vm.log.blocks))
  if (vm.db.blocks.length) await db.append(hex(vm.db.blocks))
  if (vm.blobs.blocks.length) await blobs.append(hex(vm.blobs.blocks))
  const bee = new Hyperbee(db, { keyEncoding: 'utf-8', valueEncoding: 'json' })
  const drive = new Hyperdrive(store.session(), { _db: bee } as never)
  await drive.ready()
  ;(drive as unknown as { blobs: unknown }).blobs = new Hyperblobs(blobs)
  return { log, drive }
}

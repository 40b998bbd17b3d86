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
import { Header as BeeHeader } from 'hyperbee/lib/messages.js'
import { MerkleRoots, rawSignature } from '../merkle.js'

const [BLOBS] = crypto.namespace('hyperdrive', 1) as [Buffer]

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
  // An empty core has no signed head (nothing was ever appended): its signature is empty.
  if (!raw && core.length > 0) throw new Error('the core has no signed head yet')
  const signature = raw ? rawSignature(raw) : new Uint8Array(0)
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

const HEX = /^(?:[0-9a-f]{2})*$/

/** What is wrong with the shape of a signed core taken from a report, or null: each field is checked before it is used. */
function shapeOf(what: string, sc: unknown): string | null {
  if (typeof sc !== 'object' || sc === null) return `the ${what} core is missing`
  const o = sc as Record<string, unknown>
  const hex = (v: unknown, bytes?: number) => typeof v === 'string' && HEX.test(v) && (bytes === undefined || v.length === bytes * 2)
  const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0
  if (!hex(o.key, 32)) return `the ${what} core's key is not 32 bytes of hex`
  if (!hex(o.manifest) || (o.manifest as string).length === 0) return `the ${what} core's manifest is not hex`
  if (!whole(o.length)) return `the ${what} core's length is not a whole number`
  if (!whole(o.fork)) return `the ${what} core's fork is not a whole number`
  if (!hex(o.signature, 64) && !(o.length === 0 && o.signature === '')) return `the ${what} core's signature is not 64 bytes of hex`
  if (!Array.isArray(o.blocks) || !o.blocks.every((b) => hex(b))) return `the ${what} core's blocks are not a list of hex strings`
  return null
}

/**
 * Check a core taken from a report against its signed head: its fields'
 * shapes, its key (`expectedKey`, where the verifier knows it), its manifest,
 * and its blocks against the signature the manifest's signer made. Returns
 * the reason it fails, or null.
 */
export function checkSignedCore(what: string, sc: SignedCore, expectedKey: Uint8Array | null): string | null {
  const shape = shapeOf(what, sc)
  if (shape) return shape
  const key = b4a.from(sc.key, 'hex')
  if (expectedKey && !b4a.equals(key, expectedKey)) return `the ${what} core is not the one this VM names`
  const manifest = b4a.from(sc.manifest, 'hex')
  let signer: Uint8Array | undefined
  try {
    if (!b4a.equals(Hypercore.key(manifest), key)) return `the ${what} core's manifest does not hash to its key`
    signer = Hypercore.parseManifest(manifest).signers[0]?.publicKey
  } catch {
    return `the ${what} core's manifest does not decode`
  }
  if (!signer) return `the ${what} core's manifest names no signer`
  if (sc.blocks.length !== sc.length) return `the ${what} core's blocks do not reach its signed length`
  if (sc.length === 0) return null // empty: nothing signed, nothing to prove with it
  const roots = new MerkleRoots()
  for (const b of sc.blocks) roots.append(b4a.from(b, 'hex'))
  const signable = caps.treeSignable(key, roots.hash(), sc.length, sc.fork)
  if (!crypto.verify(signable, b4a.from(sc.signature, 'hex'), signer)) return `the ${what} core's blocks are not what its signer signed`
  return null
}

/**
 * The key of an archive's file contents (blobs) core, as hyperdrive finds it
 * from the archive's hyperbee (a core already checked): the header block
 * names it, or, when it does not (hyperdrive 11 and later, vms-node's
 * archives), it is derived from the hyperbee's manifest and key. Returns the
 * reason when it cannot be had.
 */
export function blobsKeyOf(db: SignedCore): Uint8Array | string {
  if (db.blocks.length === 0) return 'the files archive has no header block'
  let header: ReturnType<typeof BeeHeader.decode>
  try {
    header = BeeHeader.decode(b4a.from(db.blocks[0]!, 'hex'))
  } catch {
    return 'the files archive\'s header block does not decode'
  }
  if (header.protocol !== 'hyperbee') return 'the files archive\'s header block is not a hyperbee\'s'
  const named = header.metadata?.contentFeed
  if (named && named.byteLength >= 32) return named.subarray(0, 32)
  const m = Hypercore.parseManifest(b4a.from(db.manifest, 'hex'))
  if (m.version < 1) return 'the files archive\'s manifest is too old to derive the contents core from'
  const dbKey = b4a.from(db.key, 'hex')
  const signers = m.signers.map((s) => ({ ...s, namespace: crypto.hash([BLOBS, dbKey, s.namespace]) }))
  return Hypercore.key({ version: m.version, hash: 'blake2b', allowPatch: m.allowPatch, quorum: m.quorum, signers, prologue: null })
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

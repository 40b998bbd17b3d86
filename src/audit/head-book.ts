/**
 * The heads a volunteer has verified, per VM, kept across runs: the log's
 * head the host signed when the verification ended (length, fork, tree hash,
 * signer, signature), and how far the verification reached. A later history
 * that does not extend a remembered head (truncated, or another tree at that
 * length) is equivocation: the host rewrote what it had signed, and the two
 * signed heads prove it to anyone (`makeEquivocationEvidence`).
 *
 * One small JSON file per VM in a folder (`<dir>/<vm key hex>.json`), so
 * volunteers auditing different VMs at once never write one file. A node's
 * `heads.json` of earlier versions (all VMs in one file) is still read.
 */
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import caps from 'hypercore/lib/caps.js'
import type Hypercore from 'hypercore'
import { readJsonFile, writeJsonFile, isObject } from '../json-file.js'
import { MerkleRoots, isSignerOf, rawSignature } from '../merkle.js'
import type { SignedHead } from '../messages/wire.js'

/** A remembered head, as kept on disk (hex). `signer`/`signature` are null where no signed head was at hand (heads of earlier versions). */
export interface Head { length: number; fork: number; treeHash: string; signer: string | null; signature: string | null; verified?: number }

export class HeadBook {
  private dir: string | null
  private legacy: string | null
  private heads = new Map<string, Head | null>()
  private legacyHeads: Promise<Record<string, Head>> | null = null
  private writing = new Map<string, Promise<void>>()

  /** `dir`: the folder of per-VM files (null: kept in memory only, as under Bare); `legacy`: an earlier version's single file. */
  constructor(dir: string | null, legacy: string | null = null) {
    this.dir = dir
    this.legacy = legacy
  }

  private file(k: string): string {
    return `${this.dir}/${k}.json`
  }

  async get(key: Uint8Array): Promise<Head | null> {
    const k = b4a.toString(key, 'hex')
    if (this.heads.has(k)) return this.heads.get(k)!
    let head: Head | null = null
    if (this.dir) {
      // Never forget silently: the heads are what equivocation is checked against.
      head = await readJsonFile(this.file(k), isHead, '(the head this volunteer verified of that VM) is damaged: repair it, or move it away to forget it (audit --forget)')
      if (!head && this.legacy) head = (await this.readLegacy())[k] ?? null
    }
    this.heads.set(k, head)
    return head
  }

  private readLegacy(): Promise<Record<string, Head>> {
    this.legacyHeads ??= readJsonFile(this.legacy!, (v): v is Record<string, Head> => isObject(v),
      '(the heads this node verified) is damaged: repair it, or move it away to forget them').then((v) => v ?? {})
    return this.legacyHeads
  }

  /** Remember `head` (a verification that finishes late with a shorter head changes nothing). */
  async set(key: Uint8Array, head: Head): Promise<void> {
    const prev = await this.get(key)
    if (prev && prev.length > head.length && prev.fork === head.fork) return
    const k = b4a.toString(key, 'hex')
    this.heads.set(k, head)
    if (!this.dir) return
    const dir = this.dir
    // One write at a time per VM, each whole.
    const w = (this.writing.get(k) ?? Promise.resolve()).catch(() => {}).then(async () => {
      const { mkdir } = await import('node:fs/promises')
      await mkdir(dir, { recursive: true })
      await writeJsonFile(this.file(k), head)
    })
    this.writing.set(k, w)
    await w
  }

  /** Forget what was verified of a VM (`audit --forget`): the next audit starts over. */
  async forget(key: Uint8Array): Promise<boolean> {
    const k = b4a.toString(key, 'hex')
    const had = (await this.get(key)) !== null
    this.heads.set(k, null)
    if (this.dir) {
      const { rm } = await import('node:fs/promises')
      await rm(this.file(k), { force: true })
      if (this.legacy && (await this.readLegacy())[k]) {
        const all = { ...(await this.readLegacy()) }
        delete all[k]
        await writeJsonFile(this.legacy, all)
        this.legacyHeads = Promise.resolve(all)
      }
    }
    return had
  }
}

function isHead(v: unknown): v is Head {
  return isObject(v) && Number.isSafeInteger(v.length) && Number.isSafeInteger(v.fork) && typeof v.treeHash === 'string'
}

/** The signed head `log` holds (its tip), if it has one. */
export async function currentHead(log: Hypercore): Promise<SignedHead | null> {
  const raw = log.state.signature
  if (!raw || log.length === 0) return null
  const signature = rawSignature(raw)
  const manifest = (log as unknown as { manifest: { signers: Array<{ publicKey: Uint8Array }> } | null }).manifest
  const signer = manifest?.signers[0]?.publicKey
  if (!signer) return null
  return { length: log.length, fork: log.fork, treeHash: await log.treeHash(log.length), signer, signature }
}

/** Whether `h` is signed by the host of `vmKey` (the log's own signer). */
export function verifyHead(vmKey: Uint8Array, h: SignedHead): boolean {
  return isSignerOf(vmKey, h.signer) && crypto.verify(caps.treeSignable(vmKey, h.treeHash, h.length, h.fork), h.signature, h.signer)
}

export function headToJson(h: SignedHead, verified?: number): Head {
  const hex = (b: Uint8Array) => b4a.toString(b, 'hex')
  return { length: h.length, fork: h.fork, treeHash: hex(h.treeHash), signer: hex(h.signer), signature: hex(h.signature), ...(verified === undefined ? {} : { verified }) }
}

/** A remembered head as a signed head, if it has its signature. */
export function headFromJson(h: Head): SignedHead | null {
  if (!h.signer || !h.signature || !/^[0-9a-f]{64}$/.test(h.signer) || !/^[0-9a-f]{128}$/.test(h.signature) || !/^[0-9a-f]{64}$/.test(h.treeHash)) return null
  return { length: h.length, fork: h.fork, treeHash: b4a.from(h.treeHash, 'hex'), signer: b4a.from(h.signer, 'hex'), signature: b4a.from(h.signature, 'hex') }
}

/**
 * What to remember after verifying `log` up to `verified`: the log's signed
 * tip (it may reach past what was verified; the host signed it all the
 * same), or, with no signed tip at hand, the head at `verified` unsigned.
 */
export async function headToRemember(log: Hypercore, verified: number): Promise<Head> {
  const tip = await currentHead(log)
  if (tip && tip.length >= verified) return headToJson(tip, verified)
  return { length: verified, fork: log.fork, treeHash: b4a.toString(await log.treeHash(verified), 'hex'), signer: null, signature: null, verified }
}

/** How `log` fails to extend `head`, or null if it does. */
export async function equivocation(log: Hypercore, head: Head): Promise<string | null> {
  return howBroken(head, log.length, log.fork, (n) => log.treeHash(n))
}

/**
 * How a history (length, fork, tree hash at a length) fails to extend a
 * signed head, or null: shorter on a later fork (an honest host never
 * truncates its log), or another tree at the head's length. (A log truncated
 * and grown again with the same entries shows no other history; one shorter
 * on the same fork is a replica behind, not a rewrite.)
 */
export async function howBroken(head: Head, length: number, fork: number, treeHashAt: (n: number) => Promise<Uint8Array>): Promise<string | null> {
  if (length < head.length) {
    // On the same fork a shorter log is one the peers have not caught up with yet, not a rewrite.
    return fork === head.fork ? null : `the log was truncated: it had ${head.length} entries (signed on fork ${head.fork}), it now has ${length} (fork ${fork})`
  }
  const now = b4a.toString(await treeHashAt(head.length), 'hex')
  if (now !== head.treeHash) return `the log was rewritten: at length ${head.length} its tree hash was ${head.treeHash.slice(0, 16)}… (fork ${head.fork}), now ${now.slice(0, 16)}… (fork ${fork})`
  return null
}

/** The tree hash of the first `length` blocks of a list (a report's copy of a log). */
export function treeHashOfBlocks(blocks: Uint8Array[], length: number): Uint8Array {
  const roots = new MerkleRoots()
  for (let i = 0; i < length; i++) roots.append(blocks[i]!)
  return roots.hash()
}

/**
 * If a peer already holds a newer fork of the log (the writer truncated it),
 * let hypercore verify and apply it before anything is compared.
 */
export async function settleForks(log: Hypercore, timeoutMs = 5000): Promise<void> {
  const peers = () => log.peers
  const end = Date.now() + timeoutMs
  // First hear some peer's head, then wait while any peer is on a newer fork than ours.
  while (!peers().some((p) => p.remoteLength > 0 || p.remoteFork > 0) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50))
  }
  while (peers().some((p) => p.remoteFork > log.fork) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Hypercore's Merkle tree, kept incrementally in memory: the roots after
 * each appended block. The host uses it to commit to the files state after
 * every call and to sign the log at every entry's length; the auditor and a
 * receipt's holder use it to recompute the same hashes from the blocks.
 * Hashes are exactly hypercore's (hypercore-crypto data/parent/tree), so a
 * signature made here verifies like one made by hypercore itself.
 */
import crypto, { type TreeNode } from 'hypercore-crypto'
import caps from 'hypercore/lib/caps.js'
import flat from 'flat-tree'
import b4a from 'b4a'
import Verifier from 'hypercore/lib/verifier.js'
import multisig from 'hypercore/lib/multisig.js'
// (Pure: no cores, no storage. The browser client bundles it; rootsOfCore is in merkle-core.ts.)

export class MerkleRoots {
  roots: TreeNode[]
  length: number

  constructor(roots: TreeNode[] = [], length = 0) {
    this.roots = roots.slice()
    this.length = length
  }

  clone(): MerkleRoots {
    return new MerkleRoots(this.roots, this.length)
  }

  /** Append a block; with `created`, every tree node this makes (its leaf, then each parent) is pushed there. */
  append(block: Uint8Array, created?: TreeNode[]): void {
    this.appendNode(leafNode(this.length, block), created)
  }

  /**
   * Append a whole subtree: a node (a leaf or a parent) whose leftmost leaf
   * is at this length, as Merkle proofs carry them. Throws if it does not
   * start there. With `created`, the node and each parent it completes are
   * pushed there.
   */
  appendNode(node: TreeNode, created?: TreeNode[]): void {
    if (flat.leftSpan(node.index) !== 2 * this.length) throw new Error(`tree node ${node.index} does not start at leaf ${this.length}`)
    this.length += (flat.rightSpan(node.index) - flat.leftSpan(node.index)) / 2 + 1
    created?.push(node)
    while (this.roots.length > 0) {
      const last = this.roots[this.roots.length - 1]!
      if (flat.sibling(node.index) !== last.index) break
      this.roots.pop()
      node = { index: flat.parent(node.index), size: last.size + node.size, hash: parentHash(last, node) }
      created?.push(node)
    }
    this.roots.push(node)
  }

  /** Bytes in the core at this length (the roots' sizes add up to it). */
  byteLength(): number {
    let n = 0
    for (const r of this.roots) n += r.size
    return n
  }

  hash(): Buffer {
    return treeHash(this.roots)
  }

  /** The bytes hypercore signs for this length: the same as `core.signable(length, fork)`. */
  signable(manifestHash: Uint8Array, fork: number): Buffer {
    return caps.treeSignable(manifestHash, this.hash(), this.length, fork)
  }
}

/** A leaf node as hypercore hashes it: block `index` of the core. */
export function leafNode(index: number, block: Uint8Array): TreeNode {
  return { index: 2 * index, size: block.byteLength, hash: dataHash(block) }
}

/*
 * hypercore-crypto's data/parent/tree hash the same bytes, handed to
 * sodium as a list of small buffers (a type byte, each uint64 apart) that
 * its native binding unpacks one by one. Here they are laid out in one
 * buffer and hashed in one piece: the same BLAKE2b input, so the same
 * hashes (a test checks), at a third of the cost for a tree of 15 roots
 * (6.0 → 2.2 µs; the host hashes two trees per call).
 */
let scratch = b4a.allocUnsafe(1024)
const LEAF_TYPE = 0
const PARENT_TYPE = 1
const ROOT_TYPE = 2
/** Blocks larger than this are hashed in place, not copied. */
const COPY_MAX = 4096

function room(n: number): Buffer {
  if (scratch.byteLength < n) scratch = b4a.allocUnsafe(Math.max(n, 2 * scratch.byteLength))
  return scratch
}

/** compact-encoding's uint64: 8 bytes, little-endian. */
function writeUint64(buf: Uint8Array, offset: number, n: number): void {
  const lo = n >>> 0
  const hi = Math.floor(n / 0x100000000) >>> 0
  buf[offset] = lo; buf[offset + 1] = lo >>> 8; buf[offset + 2] = lo >>> 16; buf[offset + 3] = lo >>> 24
  buf[offset + 4] = hi; buf[offset + 5] = hi >>> 8; buf[offset + 6] = hi >>> 16; buf[offset + 7] = hi >>> 24
}

/** The hash of a tree's roots: hypercore-crypto's tree(). */
export function treeHash(roots: readonly TreeNode[]): Buffer {
  const n = 1 + 48 * roots.length
  const buf = room(n)
  buf[0] = ROOT_TYPE
  let o = 1
  for (const r of roots) {
    buf.set(r.hash, o)
    writeUint64(buf, o + 32, r.index)
    writeUint64(buf, o + 40, r.size)
    o += 48
  }
  return crypto.hash(buf.subarray(0, n))
}

/** A parent node's hash: hypercore-crypto's parent(). */
export function parentHash(a: TreeNode, b: TreeNode): Buffer {
  if (a.index > b.index) [a, b] = [b, a]
  const buf = room(73)
  buf[0] = PARENT_TYPE
  writeUint64(buf, 1, a.size + b.size)
  buf.set(a.hash, 9)
  buf.set(b.hash, 41)
  return crypto.hash(buf.subarray(0, 73))
}

/** A leaf's hash: hypercore-crypto's data(). */
export function dataHash(block: Uint8Array): Buffer {
  if (block.byteLength > COPY_MAX) return crypto.data(block)
  const n = 9 + block.byteLength
  const buf = room(n)
  buf[0] = LEAF_TYPE
  writeUint64(buf, 1, block.byteLength)
  buf.set(block, 9)
  return crypto.hash(buf.subarray(0, n))
}

/**
 * The few subtrees that cover leaves [from, to), left to right, each as large
 * as alignment allows (at most two per tree level): what a holder of the tree
 * at `from` needs to reach the tree at `to`. `leaf(i)` gives leaf i's node;
 * `memo` keeps parents already hashed (pass one map for many covers of the
 * same leaves).
 */
export function coverNodes(from: number, to: number, leaf: (i: number) => TreeNode, memo: Map<number, TreeNode> = new Map()): TreeNode[] {
  const node = (index: number): TreeNode => {
    if (index % 2 === 0) return leaf(index / 2)
    let n = memo.get(index)
    if (n === undefined) {
      const [l, r] = flat.children(index)!
      const left = node(l!)
      const right = node(r!)
      n = { index, size: left.size + right.size, hash: parentHash(left, right) }
      memo.set(index, n)
    }
    return n
  }
  const out: TreeNode[] = []
  let p = from
  while (p < to) {
    let width = 1
    while (p % (width * 2) === 0 && p + width * 2 <= to) width *= 2
    const depth = Math.log2(width)
    out.push(node(flat.index(depth, p / width)))
    p += width
  }
  return out
}

/** True when `signer` is the (default-manifest) signer of the core with this key. */
export function isSignerOf(key: Uint8Array, signer: Uint8Array): boolean {
  // Hypercore.key(signer): the hash of the default manifest naming this one signer.
  return b4a.equals(Verifier.manifestHash(Verifier.createManifest({ signers: [{ publicKey: signer }] })), key)
}

/** Roots at `length` must sit exactly where a tree of that length has them. */
export function rootsFitLength(roots: TreeNode[], length: number): boolean {
  const expected = length === 0 ? [] : flat.fullRoots(2 * length)
  if (expected.length !== roots.length) return false
  return expected.every((index, i) => roots[i]!.index === index)
}

/** The ed25519 signature in a core's signed head: hypercore stores a lone signer's signature as a multisig record. */
export function rawSignature(signature: Uint8Array): Uint8Array {
  if (signature.byteLength === 64) return signature
  const { proofs } = multisig.inflate(signature)
  if (proofs.length !== 1 || proofs[0]!.patch !== 0 || proofs[0]!.signature.byteLength !== 64) throw new Error('the log\'s signature is not a single ed25519 signature')
  return proofs[0]!.signature
}

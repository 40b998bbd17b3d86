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
import Hypercore from 'hypercore'
import b4a from 'b4a'
import merkleTree from 'hypercore/lib/merkle-tree.js'

export class MerkleRoots {
  roots: TreeNode[]
  length: number

  constructor(roots: TreeNode[] = [], length = 0) {
    this.roots = roots.slice()
    this.length = length
  }

  static async ofCore(core: Hypercore, length: number, timeoutMs = 15000): Promise<MerkleRoots> {
    if (length === core.length) return new MerkleRoots(core.state.roots, length)
    // A sparse replica may lack the tree nodes: fetching the last block brings them with its proof (as core.treeHash does).
    if (length > 0 && !(await core.has(length - 1))) await core.get(length - 1, { timeout: timeoutMs })
    const roots = length === 0 ? [] : await merkleTree.MerkleTree.getRoots(core.state, length)
    return new MerkleRoots(roots, length)
  }

  clone(): MerkleRoots {
    return new MerkleRoots(this.roots, this.length)
  }

  append(block: Uint8Array): void {
    let node: TreeNode = { index: 2 * this.length, size: block.byteLength, hash: crypto.data(block) }
    this.length++
    while (this.roots.length > 0) {
      const last = this.roots[this.roots.length - 1]!
      if (flat.sibling(node.index) !== last.index) break
      this.roots.pop()
      node = { index: flat.parent(node.index), size: last.size + node.size, hash: crypto.parent(last, node) }
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
    return crypto.tree(this.roots)
  }

  /** The bytes hypercore signs for this length: the same as `core.signable(length, fork)`. */
  signable(manifestHash: Uint8Array, fork: number): Buffer {
    return caps.treeSignable(manifestHash, this.hash(), this.length, fork)
  }
}

/** True when `signer` is the (default-manifest) signer of the core with this key. */
export function isSignerOf(key: Uint8Array, signer: Uint8Array): boolean {
  return b4a.equals(Hypercore.key(signer), key)
}

/** Roots at `length` must sit exactly where a tree of that length has them. */
export function rootsFitLength(roots: TreeNode[], length: number): boolean {
  const expected = length === 0 ? [] : flat.fullRoots(2 * length)
  if (expected.length !== roots.length) return false
  return expected.every((index, i) => roots[i]!.index === index)
}

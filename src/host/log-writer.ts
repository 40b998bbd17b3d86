/**
 * The host's side of the call log: a group's entries are laid out in memory
 * (encoded, hashed into the log's Merkle roots, each call's receipt started)
 * before anything is written, so the redo journal can hold them; then
 * appended, in group order, and each receipt gets the signature hypercore
 * made for the append with the subtrees that lead from its entry to it.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type { TreeNode } from 'hypercore-crypto'
import { MerkleRoots, coverNodes, leafNode, rawSignature, treeHash } from '../merkle.js'
import { rootsOfCore } from '../merkle-core.js'
import { encode, logEntry, type LogEntry, type Receipt } from '../messages/index.js'

export interface LaidOut {
  /** The log length before the group, and after it. */
  start: number
  end: number
  /** The log's tree hash at `start`. */
  startHash: Uint8Array
  blocks: Buffer[]
  leaves: TreeNode[]
  /** One per entry laid out with `receipt` (calls, upgrades), signature and `after` still to come. */
  receipts: Receipt[]
  /** The log's tree hash at `end`. */
  hash: Uint8Array
}

const EMPTY = new Uint8Array(0)

export class LogWriter {
  readonly log: Hypercore
  private roots: MerkleRoots
  /** Groups laid out whose append has not succeeded yet, in order. */
  private unappended: LaidOut[] = []

  private constructor(log: Hypercore, roots: MerkleRoots) {
    this.log = log
    this.roots = roots
  }

  static async open(log: Hypercore): Promise<LogWriter> {
    return new LogWriter(log, await rootsOfCore(log, log.length))
  }

  /** The log's length once everything laid out is appended. */
  get laidOut(): number {
    return this.roots.length
  }

  /** Lay out `entries` after everything laid out before (`receipt`: the entry gets one: calls, upgrades). */
  layOut(entries: Array<{ entry: LogEntry; receipt: boolean }>): LaidOut {
    const signer = this.log.keyPair!.publicKey
    const fork = this.log.fork
    const start = this.roots.length
    const startHash = this.roots.hash()
    const blocks: Buffer[] = []
    const leaves: TreeNode[] = []
    const receipts: Receipt[] = []
    for (let i = 0; i < entries.length; i++) {
      const { entry, receipt } = entries[i]!
      const block = encode(logEntry, entry)
      const index = start + i
      const leaf = leafNode(index, block)
      if (receipt) receipts.push({ index, fork, signer, roots: this.roots.roots.slice(), after: [], signature: EMPTY, entry: block })
      this.roots.appendNode(leaf)
      leaves.push(leaf)
      blocks.push(block)
    }
    const laid = { start, startHash, end: this.roots.length, blocks, leaves, receipts, hash: this.roots.hash() }
    this.unappended.push(laid)
    return laid
  }

  /** The entries laid out and not yet known appended, from the first of them on: what the redo journal must hold. */
  pending(): { logStart: number; logStartHash: Uint8Array; logBlocks: Buffer[] } {
    const first = this.unappended[0]
    return first
      ? { logStart: first.start, logStartHash: first.startHash, logBlocks: this.unappended.flatMap((l) => l.blocks) }
      : { logStart: this.roots.length, logStartHash: this.roots.hash(), logBlocks: [] }
  }

  /** Append a laid-out group (the one laid out first of those not appended); its receipts, signed. */
  async append(laid: LaidOut): Promise<Receipt[]> {
    if (this.unappended[0] !== laid) throw new Error('log groups must be appended in the order they were laid out')
    await this.log.append(laid.blocks)
    const { start, end, leaves, receipts } = laid
    const state = this.log.state
    if (this.log.length !== end || state.length !== end || !state.signature || !b4a.equals(treeHash(state.roots), laid.hash)) {
      throw new Error('the log moved under the host')
    }
    this.unappended.shift()
    const signature = rawSignature(state.signature)
    const memo = new Map<number, TreeNode>()
    for (const r of receipts) {
      r.signature = signature
      r.after = coverNodes(r.index + 1, end, (i) => leaves[i - start]!, memo)
    }
    return receipts
  }
}

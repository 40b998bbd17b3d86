/**
 * Hyperbee blocks, one per file operation, each a valid version of the tree.
 *
 * A hyperbee batch only writes a complete tree index into its last block, so
 * versions inside a batch cannot be checked out. vms-node commits to the files
 * state after every call, and readers and auditors check out those versions;
 * so each block is encoded right after its put, with the index as it stands
 * then — the bytes an unbatched put would append. The batch is then closed
 * and the blocks appended in one go. This reaches into hyperbee's batch
 * internals (pinned by the lockfile; hyperbee 2.27).
 */
import { Node, YoloIndex } from 'hyperbee/lib/messages.js'
import type Hyperbee from 'hyperbee'

interface IndexChild { seq: number; offset: number; value: { keys: Array<{ seq: number }>; children: Array<{ seq: number; offset: number }> } }
export interface BatchInternals { blocks: Map<number, { key: Uint8Array; value: Uint8Array | null; pendingIndex: IndexChild[] }> }

export function encodeBeeBlock(batch: BatchInternals, seq: number): Uint8Array {
  const entry = batch.blocks.get(seq)
  if (!entry) throw new Error(`hyperbee batch has no block ${seq}: the pinned hyperbee internals changed`)
  const levels = entry.pendingIndex.map((l) => {
    const keys: number[] = []
    const children: number[] = []
    for (const k of l.value.keys) keys.push(k.seq)
    for (const c of l.value.children) children.push(c.seq, c.offset)
    return { keys, children }
  })
  return Node.encode({ key: entry.key, value: entry.value, index: YoloIndex.encode({ levels }) })
}

/** Put freshly written blocks in the bee's node cache: the next puts walk them. */
export function warmBeeCache(db: Hyperbee, start: number, blocks: Uint8Array[]): void {
  const cache = (db as unknown as { _nodeCache?: { set(seq: number, v: unknown): void } | null })._nodeCache
  if (!cache) return
  for (let i = 0; i < blocks.length; i++) {
    const d = Node.decode(blocks[i]!)
    cache.set(start + i, { key: d.key, value: d.value, index: d.index, inflated: null })
  }
}

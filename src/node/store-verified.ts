/**
 * Write blocks into a replica's hypercore that were already checked against
 * the core's signed tree (a BlockFeed stretch): the blocks, the tree nodes
 * they make and their bitfield bits in one storage write, then hypercore's
 * in-memory state, in the same steps its own verify takes for blocks that
 * arrive one by one with proofs (hypercore 11.37–11.39, `Core._verifyShared`). The
 * mirror then holds them exactly as if replicated: it can prove each block
 * to its own peers.
 *
 * This reaches into hypercore's internals (`core.core`): the lockfile holds
 * the version (these internals are as they were from 11.37 to 11.39.5), and
 * test/mirror-fill.test.ts checks the result
 * with hypercore's own replication and a replay.
 */
import type Hypercore from 'hypercore'
import type { TreeNode } from 'hypercore-crypto'
import BitInterlude from 'hypercore/lib/bit-interlude.js'

interface WriteBatch {
  putBlock(index: number, data: Uint8Array): void
  putTreeNode(node: TreeNode): void
}

interface CoreInternals {
  state: {
    length: number
    fork: number
    mutex: { lock(): Promise<void>; unlock(): void }
    createWriteBatch(): WriteBatch
    flush(): Promise<boolean>
    _clearActiveBatch(): void
  }
  bitfield: unknown
  hintsChanged: boolean
  _setBitfieldRanges(start: number, end: number, value: boolean): void
  updateContiguousLength(bitfield: { start: number; length: number; drop: boolean }): void
  flushHints(): Promise<void>
  replicator: { onhave(start: number, length: number, drop: boolean): void }
}

/** Store `blocks` from `start`, checked against the core's signed tree while the core was at `fork`. */
export async function storeVerified(core: Hypercore, fork: number, start: number, blocks: Uint8Array[], nodes: TreeNode[]): Promise<void> {
  if (blocks.length === 0) return
  const inner = (core as unknown as { core: CoreInternals }).core
  const end = start + blocks.length
  await inner.state.mutex.lock()
  try {
    // The tree they were checked against must still be the core's (no truncation since).
    if (inner.state.fork !== fork) throw new Error(`the core forked (${fork} → ${inner.state.fork}) since blocks ${start}–${end - 1} were checked`)
    if (end > inner.state.length) throw new Error(`blocks ${start}–${end - 1} reach past the core's length ${inner.state.length}`)
    const tx = inner.state.createWriteBatch()
    for (let i = 0; i < blocks.length; i++) tx.putBlock(start + i, blocks[i]!)
    for (const node of nodes) tx.putTreeNode(node)
    const bits = new BitInterlude()
    bits.setRange(start, end, true)
    const ranges = bits.flush(tx, inner.bitfield)
    if (!(await inner.state.flush())) throw new Error('the storage did not apply the write')
    for (const r of ranges) inner._setBitfieldRanges(r.start, r.end, r.value)
    inner.updateContiguousLength({ start, length: blocks.length, drop: false })
    inner.replicator.onhave(start, blocks.length, false)
    if (inner.hintsChanged) await inner.flushHints()
  } finally {
    inner.state._clearActiveBatch()
    inner.state.mutex.unlock()
  }
}

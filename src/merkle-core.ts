/**
 * Merkle trees of cores on disk (or sparse replicas): the roots at a length,
 * where the in-memory tree (merkle.ts) starts from, and proofs of log entries
 * under the log's latest signature, which anyone can check with the VM key.
 */
import type Hypercore from 'hypercore'
import flat from 'flat-tree'
import merkleTree from 'hypercore/lib/merkle-tree.js'
import { MerkleRoots, rawSignature } from './merkle.js'
import { VmsError } from './errors.js'
import type { RootNode } from './messages/index.js'
import type { LogProof } from './messages/gateway.js'

export async function rootsOfCore(core: Hypercore, length: number, timeoutMs = 15000): Promise<MerkleRoots> {
  if (length === core.length) return new MerkleRoots(core.state.roots, length)
  // A sparse replica may lack the tree nodes: fetching the last block brings them with its proof (as core.treeHash does).
  if (length > 0 && !(await core.has(length - 1))) await core.get(length - 1, { timeout: timeoutMs })
  const roots = length === 0 ? [] : await merkleTree.MerkleTree.getRoots(core.state, length)
  return new MerkleRoots(roots, length)
}

/** The tree indexes of the fewest whole subtrees covering leaves [from, to), left to right (as merkle.ts's coverNodes). */
export function coverIndexes(from: number, to: number): number[] {
  const out: number[] = []
  let p = from
  while (p < to) {
    let width = 1
    while (p % (width * 2) === 0 && p + width * 2 <= to) width *= 2
    out.push(flat.index(Math.log2(width), p / width))
    p += width
  }
  return out
}

/**
 * Entries [from, to) of `log` (to at most its length), proven under its
 * latest signed head. A sparse replica fetches the blocks it lacks (their
 * proofs bring the tree nodes); `maxEntries` bounds a page.
 */
export async function logProofOf(log: Hypercore, from: number, to: number, timeoutMs = 15000): Promise<LogProof> {
  const raw = log.state.signature
  const signer = (log as unknown as { manifest: { signers: Array<{ publicKey: Uint8Array }> } | null }).manifest?.signers[0]?.publicKey
  if (!raw || !signer || log.length === 0) throw new VmsError('HOST_OFFLINE', 'no signed head of this log is at hand yet: try again once a peer answered')
  const length = log.length
  const fork = log.fork
  const signature = rawSignature(raw)
  to = Math.min(to, length)
  if (!(from >= 0 && from < to)) throw new VmsError('MALFORMED_REQUEST', `no entries ${from}..${to - 1} in a log of ${length}`)
  const get = (i: number) => log.get(i, { timeout: timeoutMs }).then((b) => {
    if (!b) throw new Error('missing')
    return b
  }).catch(() => { throw new VmsError('HOST_OFFLINE', `log entry ${i} did not arrive within ${timeoutMs} ms: is the host or a mirror online?`) })
  const entries = await Promise.all(Array.from({ length: to - from }, (_, i) => get(from + i)))
  // The proofs of the last entry and of the log's last block bring the nodes after them.
  if (to < length) await get(length - 1)
  const roots = (await rootsOfCore(log, from, timeoutMs)).roots
  const after: RootNode[] = []
  for (const index of coverIndexes(to, length)) {
    const node = await merkleTree.MerkleTree.get(log.state, index)
    if (!node) throw new VmsError('HOST_OFFLINE', `tree node ${index} of the log is not at hand: try again`)
    after.push(node)
  }
  if (log.length !== length || log.fork !== fork) return logProofOf(log, from, to, timeoutMs) // it grew meanwhile: prove against the new head
  return { from, fork, signer, roots, entries, after, signature }
}

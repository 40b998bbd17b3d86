/**
 * Receipts: the host's signed commitment that a call is in the log at a
 * given index. Verifiable with the VM key alone.
 *
 * The signature is the log's own: hypercore signs the tree once per append,
 * at the end of each commit group. A receipt carries the roots before its
 * entry, the entry, and the subtrees of the entries after it up to the signed
 * length; from these the holder recomputes the signed tree hash.
 */
import crypto from 'hypercore-crypto'
import caps from 'hypercore/lib/caps.js'
import b4a from 'b4a'
import flat from 'flat-tree'
import { MerkleRoots, isSignerOf, rootsFitLength } from './merkle.js'
import { decodeEntry, EntryType, type CallEntry, type LogEntry, type Receipt, type SignedCall } from './messages/index.js'
import { VmsError } from './errors.js'

/** More subtrees than a tree of 2^53 leaves can need: a receipt with more is malformed. */
const MAX_AFTER = 2 * 53

/**
 * Signatures already checked, so the receipts of one commit group (which
 * share one signature) cost one ed25519 verify, not one each. Bounded; a
 * client keeps one per VM.
 */
export class ReceiptCache {
  /** Signed bytes by signature (hex). */
  private seen = new Map<string, Uint8Array>()
  constructor(private max = 256) {}

  has(signable: Uint8Array, signature: Uint8Array): boolean {
    const known = this.seen.get(b4a.toString(signature, 'hex'))
    return known !== undefined && b4a.equals(known, signable)
  }

  add(signable: Uint8Array, signature: Uint8Array): void {
    if (this.seen.size >= this.max) this.seen.delete(this.seen.keys().next().value!)
    this.seen.set(b4a.toString(signature, 'hex'), new Uint8Array(signable)) // a copy: not a view that keeps a pooled slab alive
  }
}

/** The log length a receipt's signature covers (as its subtrees claim; verifyReceipt checks them). */
export function signedLength(receipt: Receipt): number {
  const last = receipt.after[receipt.after.length - 1]
  return last ? flat.rightSpan(last.index) / 2 + 1 : receipt.index + 1
}

/**
 * Check a receipt against the VM key: the signer is the VM's, the entry hashes
 * into the tree at `index + 1`, that tree with the subtrees after it gives the
 * tree the signature covers, and the signature verifies. Returns the decoded
 * call entry. If `call` is given, the entry must be that call. Throws
 * BAD_RECEIPT otherwise.
 */
export function verifyReceipt(vmKey: Uint8Array, receipt: Receipt, call?: SignedCall, cache?: ReceiptCache): CallEntry {
  const entry = verifyReceiptEntry(vmKey, receipt, cache)
  if (entry.type !== EntryType.CALL) throw new VmsError('BAD_RECEIPT', 'the receipt names an entry that is not a call')
  if (call && !(b4a.equals(entry.signature, call.signature) && b4a.equals(entry.publicKey, call.publicKey))) {
    throw new VmsError('BAD_RECEIPT', 'the receipt names another call')
  }
  return entry
}

/** Verify a receipt of any entry (a call's, an upgrade's): the decoded entry, or BAD_RECEIPT. */
export function verifyReceiptEntry(vmKey: Uint8Array, receipt: Receipt, cache?: ReceiptCache): LogEntry {
  if (!isSignerOf(vmKey, receipt.signer)) throw new VmsError('BAD_RECEIPT', 'the receipt is signed by a key that is not this VM\'s')
  if (!rootsFitLength(receipt.roots, receipt.index)) throw new VmsError('BAD_RECEIPT', 'the receipt\'s tree roots do not fit its index')
  if (receipt.after.length > MAX_AFTER) throw new VmsError('BAD_RECEIPT', `the receipt carries ${receipt.after.length} subtrees; a tree never needs more than ${MAX_AFTER}`)
  const tree = new MerkleRoots(receipt.roots, receipt.index)
  tree.append(receipt.entry)
  try {
    for (const node of receipt.after) tree.appendNode(node)
  } catch {
    throw new VmsError('BAD_RECEIPT', 'the receipt\'s subtrees after the entry do not follow one another')
  }
  const signable = caps.treeSignable(vmKey, tree.hash(), tree.length, receipt.fork)
  if (!cache?.has(signable, receipt.signature)) {
    if (!crypto.verify(signable, receipt.signature, receipt.signer)) throw new VmsError('BAD_RECEIPT', 'the receipt\'s signature does not verify')
    cache?.add(signable, receipt.signature)
  }
  let entry
  try {
    entry = decodeEntry(receipt.entry, receipt.index)
  } catch {
    throw new VmsError('BAD_RECEIPT', 'the receipt\'s entry does not decode')
  }
  return entry
}

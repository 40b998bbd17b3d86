/**
 * Receipts: the host's signed commitment that a call is in the log at a
 * given index. Verifiable with the VM key alone.
 */
import crypto from 'hypercore-crypto'
import caps from 'hypercore/lib/caps.js'
import b4a from 'b4a'
import { MerkleRoots, isSignerOf, rootsFitLength } from './merkle.js'
import { decodeEntry, EntryType, type CallEntry, type Receipt, type SignedCall } from './messages/index.js'
import { VmsError } from './errors.js'

/**
 * Check a receipt against the VM key: the signer is the VM's, the entry hashes
 * into the tree at `index + 1`, and the signature covers that tree. Returns
 * the decoded call entry. If `call` is given, the entry must be that call.
 * Throws BAD_RECEIPT otherwise.
 */
export function verifyReceipt(vmKey: Uint8Array, receipt: Receipt, call?: SignedCall): CallEntry {
  if (!isSignerOf(vmKey, receipt.signer)) throw new VmsError('BAD_RECEIPT', 'the receipt is signed by a key that is not this VM\'s')
  if (!rootsFitLength(receipt.roots, receipt.index)) throw new VmsError('BAD_RECEIPT', 'the receipt\'s tree roots do not fit its index')
  const tree = new MerkleRoots(receipt.roots, receipt.index)
  tree.append(receipt.entry)
  const signable = caps.treeSignable(vmKey, tree.hash(), tree.length, receipt.fork)
  if (!crypto.verify(signable, receipt.signature, receipt.signer)) throw new VmsError('BAD_RECEIPT', 'the receipt\'s signature does not verify')
  let entry
  try {
    entry = decodeEntry(receipt.entry, receipt.index)
  } catch {
    throw new VmsError('BAD_RECEIPT', 'the receipt\'s entry does not decode')
  }
  if (entry.type !== EntryType.CALL) throw new VmsError('BAD_RECEIPT', 'the receipt names an entry that is not a call')
  if (call && !(b4a.equals(entry.signature, call.signature) && b4a.equals(entry.publicKey, call.publicKey))) {
    throw new VmsError('BAD_RECEIPT', 'the receipt names another call')
  }
  return entry
}

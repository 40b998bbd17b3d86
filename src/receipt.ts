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
import { fromWireError, type WireError } from './messages/wire.js'
import type { LogProof } from './messages/gateway.js'
import { canonicalDecode } from './canonical-json.js'
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

/**
 * The bytes a receipt's signature must cover: the tree its roots, entry and
 * subtrees make, as hypercore signs it. Throws BAD_RECEIPT where they do not
 * make a tree. (A page verifies the signature over them with WebCrypto first,
 * then verifyReceiptEntry finds it in the cache.)
 */
export function receiptSignable(vmKey: Uint8Array, receipt: Receipt): Buffer {
  return proofSignable(vmKey, { from: receipt.index, fork: receipt.fork, signer: receipt.signer, roots: receipt.roots, entries: [receipt.entry], after: receipt.after }, 'receipt')
}

function proofSignable(vmKey: Uint8Array, p: Omit<LogProof, 'signature'>, what: string): Buffer {
  if (!isSignerOf(vmKey, p.signer)) throw new VmsError('BAD_RECEIPT', `the ${what} is signed by a key that is not this VM's`)
  if (!rootsFitLength(p.roots, p.from)) throw new VmsError('BAD_RECEIPT', `the ${what}'s tree roots do not fit where its entries start`)
  if (p.after.length > MAX_AFTER) throw new VmsError('BAD_RECEIPT', `the ${what} carries ${p.after.length} subtrees; a tree never needs more than ${MAX_AFTER}`)
  const tree = new MerkleRoots(p.roots, p.from)
  for (const e of p.entries) tree.append(e)
  try {
    for (const node of p.after) tree.appendNode(node)
  } catch {
    throw new VmsError('BAD_RECEIPT', `the ${what}'s subtrees after its entries do not follow one another`)
  }
  return caps.treeSignable(vmKey, tree.hash(), tree.length, p.fork)
}

/** Verify a receipt of any entry (a call's, an upgrade's): the decoded entry, or BAD_RECEIPT. */
export function verifyReceiptEntry(vmKey: Uint8Array, receipt: Receipt, cache?: ReceiptCache): LogEntry {
  const signable = receiptSignable(vmKey, receipt)
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

/**
 * Check log entries `proof.from`.. against the VM key, as a receipt is
 * checked: the signer is the VM's, the entries hash into the tree after the
 * roots before them, that tree with the subtrees after them gives the tree the
 * signature covers, and the signature verifies. Returns the decoded entries.
 * Throws BAD_RECEIPT otherwise.
 */
export function verifyLogProof(vmKey: Uint8Array, proof: LogProof, cache?: ReceiptCache): LogEntry[] {
  const signable = logProofSignable(vmKey, proof)
  if (!cache?.has(signable, proof.signature)) {
    if (!crypto.verify(signable, proof.signature, proof.signer)) throw new VmsError('BAD_RECEIPT', 'the log proof\'s signature does not verify')
    cache?.add(signable, proof.signature)
  }
  return proof.entries.map((block, i) => {
    try {
      return decodeEntry(block, proof.from + i)
    } catch {
      throw new VmsError('BAD_RECEIPT', `log entry ${proof.from + i} in the proof does not decode`)
    }
  })
}

/** The bytes a log proof's signature must cover (see receiptSignable). */
export function logProofSignable(vmKey: Uint8Array, proof: LogProof): Buffer {
  return proofSignable(vmKey, proof, 'log proof')
}

/** The log length a log proof's signature covers (as its subtrees claim; verifyLogProof checks them). */
export function provenLength(proof: LogProof): number {
  const last = proof.after[proof.after.length - 1]
  return last ? flat.rightSpan(last.index) / 2 + 1 : proof.from + proof.entries.length
}

/**
 * A call's answer, checked against its receipt: the receipt must name this
 * call under the VM's signature; an error must be what was logged (a failure
 * for CALL_FAILED, the logged limit for a limit code; DURABILITY_TIMEOUT and
 * STORAGE_FAILED come after logging, whatever the outcome); a result must be
 * the logged outcome (`value` null: taken from the entry, as a page that is
 * sent the receipt alone does). Resolves to the result; throws the answer's
 * error (with the receipt) or BAD_RECEIPT.
 */
export function checkedAnswer(vmKey: Uint8Array, call: SignedCall, receipt: Receipt, error: WireError | null, value: Uint8Array | null, cache?: ReceiptCache): unknown {
  const entry = verifyReceipt(vmKey, receipt, call, cache)
  const logged = entry.outcome
  if (error) {
    const err = fromWireError(error)
    const asLogged = err.code === 'DURABILITY_TIMEOUT' || err.code === 'STORAGE_FAILED' ||
      (!logged.ok && (logged.limit ? err.code === logged.error?.code || err.code === 'SANDBOX_CRASHED' : err.code === 'CALL_FAILED'))
    if (!asLogged) {
      throw Object.assign(new VmsError('BAD_RECEIPT', `the host answered ${err.code}, but it logged ${logged.ok ? 'a success' : `${logged.limit ? 'the limit' : 'the failure'} ${logged.error?.code || logged.error?.name}`} for this call (entry ${receipt.index}): the host is faulty; audit it`), { receipt })
    }
    throw Object.assign(err, { receipt })
  }
  if (!logged.ok) {
    // A failure logged, answered as a success (or, for a page, sent as one).
    throw Object.assign(new VmsError('BAD_RECEIPT', `the answer is a success, but the host logged ${logged.limit ? 'the limit' : 'the failure'} ${logged.error?.code || logged.error?.name} for this call (entry ${receipt.index})`), { receipt })
  }
  if (value !== null && !b4a.equals(logged.value, value)) throw new VmsError('BAD_RECEIPT', 'the answer differs from the logged outcome')
  try {
    return canonicalDecode(logged.value)
  } catch {
    // Signed and logged, but not JSON: the host's own sandbox could not have made it.
    throw Object.assign(new VmsError('BAD_RECEIPT', 'the logged result is not JSON: the host is faulty; audit it'), { receipt })
  }
}

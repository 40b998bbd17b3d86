/**
 * Message 5 of a VM channel: each side sends the log head it holds, signed by
 * the host. Two valid signatures over different trees at the same length — or
 * a signed head that the other's history does not extend — prove the host
 * showed peers different histories: equivocation, with both signed heads.
 */
import c from 'compact-encoding'
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type { Channel } from 'protomux'
import { currentHead, verifyHead } from '../audit/head-book.js'
import { decodeStrict, encode } from '../messages/index.js'
import { signedHead, type SignedHead } from '../messages/wire.js'

/**
 * Proof that the host signed two histories that do not agree: two signed
 * heads from the head exchange, or hypercore's own conflict proof (which it
 * checked before freezing the core).
 */
export interface Equivocation { vmKey: Uint8Array; length: number; ours: SignedHead | null; theirs: SignedHead | null; proof: unknown }

/** Report hypercore's own conflict detection on `log` as equivocation. */
export function watchConflicts(log: Hypercore, vmKey: Uint8Array, onEquivocation: (e: Equivocation) => void): void {
  const ours = currentHead(log).catch(() => null)
  log.on('conflict', (length: number, _fork: number, proof: unknown) => {
    ours.then((h) => onEquivocation({ vmKey, length, ours: h, theirs: null, proof }))
  })
}

/** Add message 5 to a channel: send our head once open; check theirs against our log. */
export function addHeadExchange(channel: Channel, vmKey: Uint8Array, log: Hypercore | null, onEquivocation: (e: Equivocation) => void): { sendHead(): Promise<void> } {
  const heads = channel.addMessage({
    encoding: c.raw,
    onmessage: (raw: Uint8Array) => {
      let theirs: SignedHead
      try { theirs = decodeStrict(signedHead, raw, 'head') } catch { channel.close(); return }
      if (!log || !verifyHead(vmKey, theirs)) return
      compare(log, vmKey, theirs).then((e) => { if (e) onEquivocation(e) }, () => {})
    }
  })
  return {
    async sendHead() {
      if (!log) return
      const h = await currentHead(log).catch(() => null)
      if (h && !channel.closed) heads.send(encode(signedHead, h))
    }
  }
}

async function compare(log: Hypercore, vmKey: Uint8Array, theirs: SignedHead): Promise<Equivocation | null> {
  const ours = await currentHead(log)
  if (!ours) return null
  // Both signed by the host: the shorter must be a prefix of the longer.
  if (theirs.length <= ours.length) {
    const mine = await log.treeHash(theirs.length)
    return b4a.equals(mine, theirs.treeHash) ? null : { vmKey, length: theirs.length, ours, theirs, proof: null }
  }
  return null // theirs is longer: it is for them to compare with ours
}

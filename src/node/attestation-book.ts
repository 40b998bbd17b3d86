/**
 * The attestations a node holds for one VM: the latest from each auditor,
 * signature checked on the way in. Hosts and mirrors keep them and hand them
 * to clients, who check them again against their own replica of the log.
 */
import b4a from 'b4a'
import { verifyAttestation, type Attestation } from '../messages/wire.js'

const MAX_AUDITORS = 1024

export class AttestationBook {
  private byAuditor = new Map<string, Attestation>()
  readonly vmKey: Uint8Array

  constructor(vmKey: Uint8Array) {
    this.vmKey = vmKey
  }

  /** Keep `a` if it is about this VM, signed by its auditor, and newer than what that auditor said before. */
  add(a: Attestation): boolean {
    if (!b4a.equals(a.vmKey, this.vmKey)) return false
    const k = b4a.toString(a.auditor, 'hex')
    const prev = this.byAuditor.get(k)
    if (prev && prev.length >= a.length) return false
    if (!prev && this.byAuditor.size >= MAX_AUDITORS) return false
    // The signature last: a peer repeating what is kept costs no ed25519 check.
    if (!verifyAttestation(a)) return false
    this.byAuditor.set(k, a)
    return true
  }

  list(): Attestation[] {
    return [...this.byAuditor.values()]
  }
}

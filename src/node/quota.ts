/**
 * A deploying node's per-VM quotas: calls per second (a token bucket) and
 * the bytes its files archive may hold. Over quota, calls are refused before
 * they run, with QUOTA_EXCEEDED.
 */
import { VmsError } from '../errors.js'
import type { VmHost } from '../host/vm-host.js'

export class Quota {
  private host: VmHost
  private rate: number
  private maxBytes: number
  private tokens: number
  private at = Date.now()

  constructor(host: VmHost, callsPerSecond: number, maxBytes: number) {
    this.host = host
    this.rate = callsPerSecond
    this.maxBytes = maxBytes
    this.tokens = callsPerSecond
  }

  /** Null if a call may go ahead (and it is counted), else the error to answer. */
  check(): VmsError | null {
    const now = Date.now()
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate)
    this.at = now
    const bytes = this.host.drive.db.core.byteLength + (this.host.drive.blobs?.core.byteLength ?? 0)
    if (bytes > this.maxBytes) return new VmsError('QUOTA_EXCEEDED', `this VM's files hold ${bytes} bytes, over its quota of ${this.maxBytes}`)
    if (this.tokens < 1) return new VmsError('QUOTA_EXCEEDED', `this VM takes at most ${this.rate} calls per second: retry later`)
    this.tokens -= 1
    return null
  }
}

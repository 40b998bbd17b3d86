/**
 * The latest commit boundary of a host: the log's head after a group whose
 * log entries and files are both appended, and the files state its last entry
 * commits to. What the host states to an auditor (VmHost.filesStatement) is
 * taken at a boundary no earlier than the groups laid out when it was asked,
 * so it covers every block the host had published then.
 */
import { VmsError } from '../errors.js'
import type { FilesState } from '../messages/index.js'
import type { CoreHead } from '../messages/wire.js'

export interface Boundary { log: CoreHead; files: FilesState }

export class CommitBoundary {
  private latest: Boundary
  private waiters: Array<{ end: number; resolve(b: Boundary): void; reject(e: Error): void }> = []
  private failure: VmsError | null = null

  constructor(start: Boundary) {
    this.latest = start
  }

  /** A group ending at `log.length` is appended, log and files. */
  committed(b: Boundary): void {
    if (b.log.length <= this.latest.log.length) return
    this.latest = b
    this.waiters = this.waiters.filter((w) => {
      if (w.end > b.log.length) return true
      w.resolve(b)
      return false
    })
  }

  /** The first boundary at least `end` entries long (at once if there is one). */
  at(end: number): Promise<Boundary> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.latest.log.length >= end) return Promise.resolve(this.latest)
    return new Promise((resolve, reject) => this.waiters.push({ end, resolve, reject }))
  }

  /** The VM stopped: no boundary comes any more. */
  fail(err: VmsError): void {
    this.failure = err
    for (const w of this.waiters.splice(0)) w.reject(err)
  }
}

/** Replay reports: their JSON form (`--json`, read back by `combine`) and their printed verdict. */
import b4a from 'b4a'
import type { FilesState } from '../messages/index.js'
import type { ReplayReport } from '../audit/replay.js'

function stateToJson(s: FilesState | null): unknown {
  return s && { dbLength: s.dbLength, dbTreeHash: b4a.toString(s.dbTreeHash, 'hex'), blobsLength: s.blobsLength, blobsTreeHash: b4a.toString(s.blobsTreeHash, 'hex') }
}
export function stateFromJson(s: any): FilesState | null {
  return s && { dbLength: s.dbLength, dbTreeHash: b4a.from(s.dbTreeHash, 'hex'), blobsLength: s.blobsLength, blobsTreeHash: b4a.from(s.blobsTreeHash, 'hex') }
}
export function reportToJson(r: ReplayReport): unknown {
  return { ...r, start: stateToJson(r.start), files: stateToJson(r.files) }
}

/** Print a replay report and set the exit code: 0 verified, 1 divergence, 2 could not finish. */
export function printReport(report: ReplayReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(reportToJson(report)))
  } else if (report.ok) {
    const trust = report.oracles?.length ? `trusted: the outputs of oracles ${report.oracles.join(', ')} are the host's word` : 'trustless'
    const n = (x: number) => x.toLocaleString('en-US')
    const tree = report.files ? `, files tree ${b4a.toString(report.files.dbTreeHash, 'hex').slice(0, 8)}…` : ''
    console.log(`verified: entries ${n(report.from)}–${n(report.to - 1)}, ${n(report.calls)} call${report.calls === 1 ? '' : 's'}, ${n(report.loads)} load${report.loads === 1 ? '' : 's'}${report.upgrades ? ` (${n(report.upgrades)} upgrade${report.upgrades === 1 ? '' : 's'}: verified across ${n(report.upgrades + 1)} script versions)` : ''}${tree} of VM ${report.vmKey} (${trust})${report.notes.length ? `\nnotes:\n  ${report.notes.join('\n  ')}` : ''}`)
  } else if (report.divergence) {
    const d = report.divergence
    console.log(`DIVERGENCE (${d.class}) ${d.message}\n  expected: ${d.expected}\n  found:    ${d.found}`)
  } else {
    console.log(`inconclusive: ${report.inconclusive}`)
  }
  process.exitCode = report.ok ? 0 : report.divergence ? 1 : 2
}

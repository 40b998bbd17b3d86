import { command, flag, arg, summary, description } from 'paparam'
import { mkdtemp, rm, readFile as readText } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyEvidence, type Evidence } from '../../audit/evidence.js'
import { fail } from '../fail.js'

export const verifyReportCmd = command(
  'verify-report',
  summary('Check an audit report independently: "fraud proven" or "report invalid"'),
  description('Ties every core in the report to the VM key (the log is the key, the archive is the genesis\', its contents core is the archive\'s) and checks the host\'s signatures, then the claim: it replays the one stretch from its checkpoint (a replay divergence), compares a signed head with the log (equivocation), or checks the host\'s signed statement of its files (files no entry accounts for).\nExits 0 when the fraud is proven, 1 when the report is invalid.'),
  arg('<file>', 'the report (from `vms-node audit --report FILE`)'),
  flag('--json', 'machine-readable output'),
  async () => {
    const file = verifyReportCmd.args.file!
    const text = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    let evidence: Evidence
    try { evidence = JSON.parse(text) as Evidence } catch { return fail(`${file} is not a report (make one with vms-node audit --report FILE)`) }
    const tmp = await mkdtemp(join(tmpdir(), 'vms-verify-'))
    try {
      const verdict = await verifyEvidence(evidence, { tmpdir: tmp }).catch((err: Error) => ({ proven: false, reason: `report invalid: ${err.message}` }))
      if (verifyReportCmd.flags.json) console.log(JSON.stringify(verdict))
      else console.log(verdict.reason)
      process.exitCode = verdict.proven ? 0 : 1
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }
)

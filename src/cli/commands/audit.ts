import { command, flag, arg, summary, description } from 'paparam'
import { StatusLine } from '../status-line.js'
import { wholeFlag, clientFlags } from '../flags.js'
import { withClient } from '../connect.js'
import { replayProgress, bar } from '../progress.js'
import { printReport } from '../reports.js'
import { join } from 'node:path'
import { vmsHome } from '../config.js'

export const auditCmd = command(
  'audit',
  summary('Audit a VM over the swarm: replicate its log and files from the host or mirrors, replay every call'),
  description('Exits 0 when everything checked out, 1 on a divergence (named), 2 when the audit could not finish. The head verified is kept in $VMS_HOME/heads: a later audit reports a history that does not extend it as equivocation.'),
  arg('<key>', 'the VM key'),
  flag('--from <index>', 'start at this load entry (a checkpoint)'),
  flag('--to <index>', 'stop before this entry (audit a stretch; combine the reports with `vms-node combine`)'),
  flag('--follow', 'stay on and check each new call as it is logged (Ctrl-C to stop)'),
  flag('--report <file>', 'on a divergence, write evidence a third party can check with `vms-node verify-report`'),
  flag('--forget', 'forget the head verified of this VM before (kept in $VMS_HOME/heads) and start over'),
  ...clientFlags,
  async () => {
    const json = !!auditCmd.flags.json
    const abort = new AbortController()
    if (auditCmd.flags.follow) {
      process.once('SIGINT', () => abort.abort())
      process.once('SIGTERM', () => abort.abort())
    }
    const from = wholeFlag(auditCmd.flags.from, '--from', 1, '1')
    const to = wholeFlag(auditCmd.flags.to, '--to', 2, '1000')
    // What this volunteer verified before is kept across runs: a later history that does not extend it is equivocation.
    await withClient(auditCmd.flags, async (node) => {
      if (auditCmd.flags.forget && await node.forget(auditCmd.args.key!) && !json) console.error('vms-node: forgot the head verified of this VM before; starting over')
      const status = new StatusLine()
      const progress = replayProgress(status, Date.now())
      let replaying = false
      let following = false
      const report = await node.audit(auditCmd.args.key!, {
        from,
        to,
        report: auditCmd.flags.report || undefined,
        follow: auditCmd.flags.follow
          ? {
              signal: abort.signal,
              onVerified: (length) => {
                if (json) console.log(JSON.stringify({ event: 'verified', length }))
                else status.update(`verified up to entry ${length - 1}; following…`)
                following = true
              }
            }
          : undefined,
        onReplicate: json ? undefined : ({ phase, have, total }) => {
          if (replaying) return // blocks fetched in bulk arrive while the replay runs: its line says it all
          const pct = Math.floor((have / Math.max(1, total)) * 100)
          status.update(`replicating ${phase.padEnd(5)} ${bar(pct)} ${pct}%  ${have}/${total} blocks`)
        },
        // Once following, the line says how far it verified: a new call's replay is too short for a bar.
        onProgress: json ? undefined : (p) => { replaying = true; if (!following) progress(p) }
      }).finally(() => status.end())
      printReport(report, json)
    }, { heads: join(vmsHome(), 'heads') })
  }
)

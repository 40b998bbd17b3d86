import { command, flag, arg, summary, description } from 'paparam'
import { replay } from '../../audit/replay.js'
import { StatusLine } from '../status-line.js'
import { wholeFlag } from '../flags.js'
import { withCores } from '../local-storage.js'
import { replayProgress } from '../progress.js'
import { printReport } from '../reports.js'

export const replayCmd = command(
  'replay',
  summary('Audit a VM\'s call log and files archive from its storage directory'),
  description('Re-executes every call in a sandbox and checks signatures, outcomes and the files after each entry.\nThe VM must not be running (its storage is locked while it is).\nExits 0 when everything checks out, 1 on a divergence (named), 2 when the audit could not finish.'),
  arg('<storage>', 'the VM\'s storage directory, or a node\'s (`serve --storage`) with --vm'),
  flag('--vm <name>', 'in a node\'s storage: the VM (its script\'s name, as `serve` named it)'),
  flag('--from <index>', 'start at this load entry (a checkpoint) instead of the genesis'),
  flag('--to <index>', 'stop before this entry (audit a stretch; combine the reports with `vms-node combine`)'),
  flag('--json', 'print the report as one JSON object'),
  async () => {
    const { storage } = replayCmd.args
    const json = !!replayCmd.flags.json
    await withCores(storage!, replayCmd.flags.vm, async (cores) => {
      const status = new StatusLine()
      const report = await replay(cores, {
        from: wholeFlag(replayCmd.flags.from, '--from', 1, '1'),
        to: wholeFlag(replayCmd.flags.to, '--to', 2, '1000'),
        onProgress: json ? undefined : replayProgress(status, Date.now())
      }).finally(() => status.end())
      printReport(report, json)
    })
  }
)

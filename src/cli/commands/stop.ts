import { command, arg, summary } from 'paparam'
import { manageFlags } from '../flags.js'
import { withNode } from '../connect.js'

export const stopCmd = command(
  'stop',
  summary('Stop serving a VM on a node (its log and files stay); you must be allowed to deploy there'),
  arg('<key>', 'the VM key'),
  ...manageFlags,
  async () => {
    await withNode(stopCmd, async (remote) => {
      await remote.stop(stopCmd.args.key!)
      if (stopCmd.flags.json) console.log(JSON.stringify({ stopped: stopCmd.args.key }))
      else console.log(`stopped ${stopCmd.args.key}`)
    })
  }
)

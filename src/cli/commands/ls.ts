import { command, summary } from 'paparam'
import { manageFlags } from '../flags.js'
import { withNode } from '../connect.js'

export const lsCmd = command(
  'ls',
  summary('List the VMs a node hosts (you must be allowed to deploy there)'),
  ...manageFlags,
  async () => {
    await withNode(lsCmd, async (remote) => {
      const vms = await remote.ls()
      for (const v of vms) console.log(lsCmd.flags.json ? JSON.stringify(v) : `${v.key}  ${v.filename}  ${v.length} entries`)
    })
  }
)

import { command, flag, summary, description } from 'paparam'
import { identityPath, loadIdentity } from '../config.js'
import { identityFlag } from '../flags.js'
import { announceIdentity } from '../connect.js'

export const whoamiCmd = command(
  'whoami',
  summary('Print your caller id: the key your calls are signed with (System.caller.id in scripts)'),
  description('The identity is made on first use; --identity picks another file (one per caller, say alice.json and bob.json).'),
  identityFlag,
  flag('--json', 'machine-readable output'),
  async () => {
    const path = identityPath(whoamiCmd.flags.identity)
    const identity = await loadIdentity(whoamiCmd.flags.identity, announceIdentity)
    if (whoamiCmd.flags.json) console.log(JSON.stringify({ id: identity.id, file: path }))
    else console.log(identity.id)
  }
)

import { command, flag, arg, summary } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { basename } from 'node:path'
import { VmHost } from '../../host/vm-host.js'
import { formatKey } from '../../identity.js'
import { fail } from '../fail.js'

export const createCmd = command(
  'create',
  summary('Create a VM from a script in a storage directory, print its key, and exit'),
  arg('<script>', 'the service script'),
  flag('--storage <dir>', 'storage directory (required, must be empty)'),
  async () => {
    const file = createCmd.args.script!
    if (!createCmd.flags.storage) fail('give a storage directory with --storage DIR')
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    const host = await VmHost.create(createCmd.flags.storage, { script, filename: basename(file) })
    console.log(formatKey(host.key))
    await host.close()
  }
)

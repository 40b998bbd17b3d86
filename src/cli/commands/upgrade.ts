import { command, arg, summary, description } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { basename } from 'node:path'
import b4a from 'b4a'
import { fail } from '../fail.js'
import { clientFlags } from '../flags.js'
import { withClient } from '../connect.js'
import { rememberVersion } from '../seen-versions.js'

export const upgradeCmd = command(
  'upgrade',
  summary('Replace a VM\'s script, as one of its owners: the host runs the new script\'s init and migrate, then logs it'),
  description('Signed by your caller identity (--identity), which the VM\'s genesis must name as an owner (see vms-node info KEY).\nIf the new script does not compile, or its init or migrate fails, nothing changes and the old version serves on.'),
  arg('<key>', 'the VM key'),
  arg('<script>', 'the new script'),
  ...clientFlags,
  async () => {
    const file = upgradeCmd.args.script!
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    await withClient(upgradeCmd.flags, async (node) => {
      const vm = await node.dial(upgradeCmd.args.key!)
      const done = await vm.upgrade(script, { filename: basename(file) })
      // Your next calls are made for the new version.
      await rememberVersion(vm.key, vm.script!)
      const hash = b4a.toString(done.hash, 'hex')
      if (upgradeCmd.flags.json) {
        console.log(JSON.stringify({ version: done.version, hash, index: done.index, added: done.added, removed: done.removed }))
      } else {
        console.log(`upgraded to version ${done.version} (script ${hash}), log entry ${done.index}`)
        console.log(`  added    ${done.added.join(', ') || '(none)'}\n  removed  ${done.removed.join(', ') || '(none)'}`)
      }
    })
  }
)

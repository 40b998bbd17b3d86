import { command, arg, summary } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { basename } from 'node:path'
import { fail } from '../fail.js'
import { manageFlags } from '../flags.js'
import { withNode } from '../connect.js'

export const deployCmd = command(
  'deploy',
  summary('Send a script to a node that allows you (serve --allow-deploy): it creates and hosts a new VM; prints its key'),
  arg('<script>', 'the service script'),
  ...manageFlags,
  async () => {
    const file = deployCmd.args.script!
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    await withNode(deployCmd, async (remote) => {
      const { key } = await remote.deploy(script, basename(file))
      if (deployCmd.flags.json) console.log(JSON.stringify({ key }))
      else console.log(key)
    })
  }
)

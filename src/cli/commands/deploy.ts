import { command, arg, flag, summary } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { basename } from 'node:path'
import { toKey } from '../../identity.js'
import { fail } from '../fail.js'
import { manageFlags } from '../flags.js'
import { withNode } from '../connect.js'

export const deployCmd = command(
  'deploy',
  summary('Send a script to a node that allows you (serve --allow-deploy): it creates and hosts a new VM; prints its key'),
  arg('<script>', 'the service script'),
  flag('--owner <key>', 'who may upgrade the new VM (repeatable; default: you, the deployer)').multiple(),
  flag('--immutable', 'make the new VM immutable: its script never changes'),
  ...manageFlags,
  async () => {
    const file = deployCmd.args.script!
    const given: string[] = deployCmd.flags.owner === undefined ? [] : ([] as string[]).concat(deployCmd.flags.owner)
    if (deployCmd.flags.immutable && given.length > 0) fail('--immutable and --owner contradict each other: an immutable VM has no owner')
    const owners = deployCmd.flags.immutable ? [] : given.length > 0 ? given.map((k) => { try { return toKey(k) } catch { return fail(`--owner ${k} is not a caller key (z-base-32 or hex; see vms-node whoami)`) } }) : undefined
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    await withNode(deployCmd, async (remote) => {
      const { key } = await remote.deploy(script, basename(file), { owners })
      if (deployCmd.flags.json) console.log(JSON.stringify({ key }))
      else console.log(key)
    })
  }
)

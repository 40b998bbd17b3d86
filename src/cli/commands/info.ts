import { command, arg, summary } from 'paparam'
import { formatKey } from '../../identity.js'
import { readerFlags } from '../flags.js'
import { withClient } from '../connect.js'

export const infoCmd = command(
  'info',
  summary('What a VM is: methods, files archive key, log length, trust mode'),
  arg('<key>', 'the VM key'),
  ...readerFlags,
  async () => {
    await withClient(infoCmd.flags, async (node) => {
      const vm = await node.dial(infoCmd.args.key!)
      const info = await vm.info()
      const out = { key: info.key, methods: info.methods, views: info.views, files: formatKey(info.filesKey), length: info.length, trust: info.trust, oracles: info.oracles, from: info.host ? 'host' : 'mirror' }
      if (infoCmd.flags.json) console.log(JSON.stringify(out))
      else console.log(`VM ${out.key}${info.host ? '' : ' (from a mirror: the host is not reachable)'}\n  methods  ${out.methods.join(', ')}${out.views.length ? '\n  views    ' + out.views.join(', ') + ' (read-only, never logged)' : ''}\n  files    ${out.files}\n  log      ${out.length} entries\n  trust    ${out.trust}${out.oracles.length ? ' (oracles: ' + out.oracles.join(', ') + ')' : ' (no oracles: every result can be replayed)'}`)
    }, { signs: false })
  }
)

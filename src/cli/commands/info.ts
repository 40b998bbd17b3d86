import { command, arg, summary } from 'paparam'
import b4a from 'b4a'
import { formatKey } from '../../identity.js'
import { readerFlags } from '../flags.js'
import { withClient } from '../connect.js'

export const infoCmd = command(
  'info',
  summary('What a VM is: methods, files archive key, log length, trust mode, who may upgrade it, its script versions'),
  arg('<key>', 'the VM key'),
  ...readerFlags,
  async () => {
    await withClient(infoCmd.flags, async (node) => {
      const vm = await node.dial(infoCmd.args.key!)
      const info = await vm.info()
      const hex = (h: Uint8Array) => b4a.toString(h, 'hex')
      const out = {
        key: info.key, methods: info.methods, views: info.views, files: formatKey(info.filesKey), length: info.length, trust: info.trust, oracles: info.oracles,
        owners: info.owners, version: info.version, scriptHash: hex(info.scriptHash),
        history: info.history.map((v) => ({ version: v.version, hash: hex(v.hash), filename: v.filename, from: v.from, to: v.to })),
        from: info.host ? 'host' : 'mirror'
      }
      if (infoCmd.flags.json) { console.log(JSON.stringify(out)); return }
      const spans = out.history.map((v, i) => `v${v.version} ${v.hash.slice(0, 16)}… ${v.filename}, entries ${v.from}${i === out.history.length - 1 ? ' on' : `–${v.to}`}`)
      console.log([
        `VM ${out.key}${info.host ? '' : ' (from a mirror: the host is not reachable)'}`,
        `  methods  ${out.methods.join(', ')}`,
        ...(out.views.length ? [`  views    ${out.views.join(', ')} (read-only, never logged)`] : []),
        `  files    ${out.files}`,
        `  log      ${out.length} entries`,
        `  trust    ${out.trust}${out.oracles.length ? ' (oracles: ' + out.oracles.join(', ') + ')' : ' (no oracles: every result can be replayed)'}`,
        `  rules    ${out.owners.length ? `upgradable by ${out.owners.join(', ')}` : 'immutable: the script never changes'}`,
        `  script   version ${out.version} (hash ${out.scriptHash})`,
        `  history  ${spans.join('\n           ')}`
      ].join('\n'))
    }, { signs: false })
  }
)

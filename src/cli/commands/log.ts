import { command, flag, arg, summary } from 'paparam'
import { formatKey } from '../../identity.js'
import { decodeEntry, EntryType, LoadReason, scriptHash } from '../../messages/index.js'
import { withCores } from '../local-storage.js'

export const logCmd = command(
  'log',
  summary('Print a VM\'s call log, one entry per line'),
  arg('<storage>', 'the VM\'s storage directory, or a node\'s (`serve --storage`) with --vm'),
  flag('--vm <name>', 'in a node\'s storage: the VM (its script\'s name, as `serve` named it)'),
  flag('--json', 'one JSON object per line'),
  async () => {
    const { storage } = logCmd.args
    await withCores(storage!, logCmd.flags.vm, async (cores) => {
      console.log(logCmd.flags.json ? JSON.stringify({ key: formatKey(cores.log.key), length: cores.log.length }) : `VM ${formatKey(cores.log.key)}: ${cores.log.length} entries`)
      for (let i = 0; i < cores.log.length; i++) {
        const e = decodeEntry((await cores.log.get(i))!, i)
        const line = e.type === EntryType.GENESIS
          ? { index: i, type: 'genesis', filename: e.filename, owners: (e.governance?.owners ?? []).map(formatKey).join(',') || 'immutable', limits: e.limits, files: formatKey(e.filesKey) }
          : e.type === EntryType.UPGRADE
            ? { index: i, type: 'upgrade', version: e.version, hash: scriptHash(e.script).toString('hex').slice(0, 16), filename: e.filename, owner: formatKey(e.owner), time: new Date(e.time).toISOString(), ok: e.outcome.ok, files: e.files.dbLength }
          : e.type === EntryType.LOAD
            ? { index: i, type: 'load', reason: LoadReason[e.reason]!.toLowerCase(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, note: e.note || undefined, files: e.files.dbLength }
            : { index: i, type: 'call', method: e.method, pinned: e.scriptHash ? Buffer.from(e.scriptHash).toString('hex').slice(0, 16) : undefined, caller: formatKey(e.publicKey), args: Buffer.from(e.args).toString(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, result: e.outcome.ok ? Buffer.from(e.outcome.value).toString() || undefined : `${e.outcome.error?.name}: ${e.outcome.error?.message}`, files: e.files.dbLength }
        console.log(logCmd.flags.json ? JSON.stringify(line) : Object.values(line).filter((v) => v !== undefined).map((v) => typeof v === 'object' ? JSON.stringify(v) : v).join('  '))
      }
    })
  }
)

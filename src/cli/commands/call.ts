import { command, flag, arg, rest, summary } from 'paparam'
import b4a from 'b4a'
import { formatKey } from '../../identity.js'
import { signedLength } from '../../receipt.js'
import { encode, receipt as receiptEncoding } from '../../messages/index.js'
import { restAndFlags, clientFlags } from '../flags.js'
import { withClient } from '../connect.js'
import { seenVersion, rememberVersion } from '../seen-versions.js'
import { VmsError } from '../../errors.js'

export const callCmd = command(
  'call',
  summary('Call a method of a VM by key; args are JSON values (a word that is not JSON is a string)'),
  arg('<key>', 'the VM key'),
  arg('<method>', 'the method'),
  rest('[...args]', 'arguments'),
  flag('--view', 'run it read-only (not logged; answered by the host or any mirror; writes fail)'),
  flag('--any-version', 'sign the call for whatever script version is in force (by default it is made for the version you last called)'),
  ...clientFlags,
  async () => {
    const args = restAndFlags(callCmd, ['bootstrap', 'identity', 'timeout'], ['local', 'json', 'view', 'any-version']).map((a: string) => { try { return JSON.parse(a) } catch { return a } })
    await withClient(callCmd.flags, async (node) => {
      const vm = await node.dial(callCmd.args.key!)
      if (callCmd.flags.view) {
        const { result, length } = await vm.view(callCmd.args.method!, ...args)
        if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, length }))
        else console.log((result === undefined ? '(no value)' : JSON.stringify(result, null, 2)) + `\n(view of the files after log entry ${length - 1})`)
        return
      }
      // Made for the script version last called here: a call never runs on a script it was not made for.
      const seen = await seenVersion(vm.key)
      if (callCmd.flags.anyVersion) vm.pin(null)
      else if (seen) vm.pin(seen.hash, seen)
      const { result, receipt } = await vm.callWithReceipt(callCmd.args.method!, ...args).catch(async (err: VmsError & { script?: { version: number; hash: Uint8Array; methods: string[]; added: string[]; removed: string[] } }) => {
        if (err.code !== 'SCRIPT_CHANGED' || !err.script) throw err
        const s = err.script
        await rememberVersion(vm.key, s)
        const changes = [s.added.length ? `added ${s.added.join(', ')}` : '', s.removed.length ? `removed ${s.removed.join(', ')}` : ''].filter(Boolean).join('; ') || 'the same methods'
        throw new VmsError('SCRIPT_CHANGED', `VM ${formatKey(vm.key)} was upgraded: it runs script version ${s.version} (${b4a.toString(s.hash, 'hex').slice(0, 16)}…) now, not the version${seen ? ' ' + seen.version : ''} your call was made for (${changes}). The call did not run. If it still means the same, run it again: it is now made for version ${s.version} (see vms-node info ${formatKey(vm.key)})`)
      })
      if (vm.script && !callCmd.flags.anyVersion) await rememberVersion(vm.key, vm.script)
      if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, receipt: { index: receipt.index, length: signedLength(receipt), fork: receipt.fork, signer: formatKey(receipt.signer), signature: b4a.toString(receipt.signature, 'hex'), hex: b4a.toString(encode(receiptEncoding, receipt), 'hex') } }))
      else console.log(result === undefined ? '(no value)' : JSON.stringify(result, null, 2))
    })
  }
)

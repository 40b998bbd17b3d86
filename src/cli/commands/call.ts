import { command, flag, arg, rest, summary } from 'paparam'
import b4a from 'b4a'
import { formatKey } from '../../identity.js'
import { signedLength } from '../../receipt.js'
import { restAndFlags, clientFlags } from '../flags.js'
import { withClient } from '../connect.js'

export const callCmd = command(
  'call',
  summary('Call a method of a VM by key; args are JSON values (a word that is not JSON is a string)'),
  arg('<key>', 'the VM key'),
  arg('<method>', 'the method'),
  rest('[...args]', 'arguments'),
  flag('--view', 'run it read-only (not logged; answered by the host or any mirror; writes fail)'),
  ...clientFlags,
  async () => {
    const args = restAndFlags(callCmd, ['bootstrap', 'identity', 'timeout'], ['local', 'json', 'view']).map((a: string) => { try { return JSON.parse(a) } catch { return a } })
    await withClient(callCmd.flags, async (node) => {
      const vm = await node.dial(callCmd.args.key!)
      if (callCmd.flags.view) {
        const { result, length } = await vm.view(callCmd.args.method!, ...args)
        if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, length }))
        else console.log((result === undefined ? '(no value)' : JSON.stringify(result, null, 2)) + `\n(view of the files after log entry ${length - 1})`)
        return
      }
      const { result, receipt } = await vm.callWithReceipt(callCmd.args.method!, ...args)
      if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, receipt: { index: receipt.index, length: signedLength(receipt), fork: receipt.fork, signer: formatKey(receipt.signer), signature: b4a.toString(receipt.signature, 'hex') } }))
      else console.log(result === undefined ? '(no value)' : JSON.stringify(result, null, 2))
    })
  }
)

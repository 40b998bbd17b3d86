import { command, arg, summary } from 'paparam'
import { clientFlags } from '../flags.js'
import { withClient } from '../connect.js'

export const replCmd = command(
  'repl',
  summary('A Node REPL with a VM bound: its methods as async functions, `vm`, `files`'),
  arg('<key>', 'the VM key'),
  ...clientFlags,
  async () => {
    await withClient(replCmd.flags, async (node) => {
      const vm = await node.dial(replCmd.args.key!)
      const info = await vm.info()
      const { start } = await import('node:repl')
      console.log(`VM ${info.key} (${info.trust})\n  methods: ${info.methods.map((m) => m + '(…)').join(', ')}   also: vm, files, info()\n  calls are signed as ${node.identity.id}; .exit to leave`)
      // Work started at the prompt finishes before the node closes (piped input reaches .exit early).
      const pending = new Set<Promise<unknown>>()
      const track = <T>(p: Promise<T>): Promise<T> => { pending.add(p); p.finally(() => pending.delete(p)).catch(() => {}); return p }
      const files = vm.files
      const r = start({ prompt: 'vms> ' })
      for (const m of info.methods) r.context[m] = (...args: unknown[]) => track(vm.call(m, ...args))
      r.context.vm = vm
      r.context.files = {
        readdir: (p: string) => track(files.readdir(p)),
        readFile: (p: string, enc?: 'utf8') => track(files.readFile(p, enc)),
        stat: (p: string) => track(files.stat(p)),
        exists: (p: string) => track(files.exists(p))
      }
      r.context.info = () => track(vm.info())
      await new Promise<void>((resolve) => r.on('exit', () => resolve()))
      while (pending.size > 0) await Promise.allSettled([...pending])
    })
  }
)

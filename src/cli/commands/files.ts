import { command, arg, summary } from 'paparam'
import b4a from 'b4a'
import { fail } from '../fail.js'
import { readerFlags } from '../flags.js'
import { withClient } from '../connect.js'

export const filesCmd = command(
  'files',
  summary('Read a VM\'s files archive: ls, cat or stat a path'),
  arg('<key>', 'the VM key'),
  arg('<op>', 'ls | cat | stat'),
  arg('[path]', 'the path (default /)'),
  ...readerFlags,
  async () => {
    const { key, op } = filesCmd.args
    const path = filesCmd.args.path || '/'
    if (!['ls', 'cat', 'stat'].includes(op!)) fail(`unknown files operation ${op}: use ls, cat or stat`)
    await withClient(filesCmd.flags, async (node) => {
      const vm = await node.dial(key!)
      const json = !!filesCmd.flags.json
      if (op === 'ls') {
        const names = await vm.files.readdir(path)
        if (names.length === 0) {
          // Nothing listed: an empty directory, or a path that is not one (say which).
          const st = await vm.files.stat(path)
          if (!st) fail(`${path} does not exist in this VM's archive (\`files ${key} ls /\` lists the top)`)
          if (st.isFile) fail(`${path} is a file, not a directory: read it with \`files ${key} cat ${path}\``)
        }
        if (json) for (const name of names) console.log(JSON.stringify({ name }))
        else console.log(names.join('\n'))
      } else if (op === 'cat') {
        const data = await vm.files.readFile(path) as Uint8Array
        if (json) console.log(JSON.stringify({ path, data: b4a.toString(data, 'utf8') }))
        else process.stdout.write(data)
      } else {
        const st = await vm.files.stat(path)
        if (!st) fail(`${path} does not exist in this VM's archive`)
        console.log(JSON.stringify({ path, ...st, mtime: st.mtime.toISOString() }))
      }
    }, { signs: false })
  }
)

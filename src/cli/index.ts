/**
 * vms-node, the command line: a thin shell over the library.
 * (Serving, calling and mirroring over the swarm come with the swarm node.)
 */
import { command, flag, arg, summary, description } from 'paparam'
import { replay } from '../audit/replay.js'
import { openVmCores, closeVmCores, type VmCores } from '../host/vm-storage.js'
import { VmHost } from '../host/vm-host.js'
import { formatKey } from '../identity.js'
import { decodeEntry, EntryType, LoadReason } from '../messages/index.js'
import { VmsError } from '../errors.js'

const replayCmd = command(
  'replay',
  summary('Audit a VM\'s call log and files archive from its storage directory'),
  description('Re-executes every call in a sandbox and checks signatures, outcomes and the files after each entry.\nThe VM must not be running (its storage is locked while it is).\nExits 0 when everything checks out, 1 on a divergence (named), 2 when the audit could not finish.'),
  arg('<storage>', 'the VM\'s storage directory'),
  flag('--from [index]', 'start at this load entry (a checkpoint) instead of the genesis'),
  flag('--json', 'print the report as one JSON object'),
  async () => {
    const { storage } = replayCmd.args
    const json = !!replayCmd.flags.json
    await withCores(storage!, async (cores) => {
      const start = Date.now()
      const report = await replay(cores, {
        from: replayCmd.flags.from ? Number(replayCmd.flags.from) : undefined,
        onProgress: json ? undefined : ({ index, total, calls }) => {
          const pct = Math.floor((index / total) * 100)
          const rate = Math.round(calls / Math.max(0.001, (Date.now() - start) / 1000))
          process.stderr.write(`\rreplaying ${total} entries  ${bar(pct)} ${pct}%  ${rate} calls/s `)
        }
      })
      if (!json) process.stderr.write('\n')
      if (json) console.log(JSON.stringify({ ...report, files: report.files && { dbLength: report.files.dbLength, blobsLength: report.files.blobsLength } }))
      else if (report.ok) console.log(`verified: entries ${report.from}–${report.to - 1} of VM ${report.vmKey}: ${report.calls} calls, ${report.loads} loads${report.notes.length ? `\nnotes:\n  ${report.notes.join('\n  ')}` : ''}`)
      else if (report.divergence) {
        const d = report.divergence
        console.log(`DIVERGENCE (${d.class}) ${d.message}\n  expected: ${d.expected}\n  found:    ${d.found}`)
      } else console.log(`inconclusive: ${report.inconclusive}`)
      process.exitCode = report.ok ? 0 : report.divergence ? 1 : 2
    })
  }
)

const logCmd = command(
  'log',
  summary('Print a VM\'s call log, one entry per line'),
  arg('<storage>', 'the VM\'s storage directory'),
  flag('--json', 'one JSON object per line'),
  async () => {
    const { storage } = logCmd.args
    await withCores(storage!, async (cores) => {
      console.log(logCmd.flags.json ? JSON.stringify({ key: formatKey(cores.log.key), length: cores.log.length }) : `VM ${formatKey(cores.log.key)}: ${cores.log.length} entries`)
      for (let i = 0; i < cores.log.length; i++) {
        const e = decodeEntry((await cores.log.get(i))!, i)
        const line = e.type === EntryType.GENESIS
          ? { index: i, type: 'genesis', filename: e.filename, limits: e.limits, files: formatKey(e.filesKey) }
          : e.type === EntryType.LOAD
            ? { index: i, type: 'load', reason: LoadReason[e.reason]!.toLowerCase(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, note: e.note || undefined, files: e.files.dbLength }
            : { index: i, type: 'call', method: e.method, caller: formatKey(e.publicKey), args: Buffer.from(e.args).toString(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, result: e.outcome.ok ? Buffer.from(e.outcome.value).toString() || undefined : `${e.outcome.error?.name}: ${e.outcome.error?.message}`, files: e.files.dbLength }
        console.log(logCmd.flags.json ? JSON.stringify(line) : Object.values(line).filter((v) => v !== undefined).map((v) => typeof v === 'object' ? JSON.stringify(v) : v).join('  '))
      }
    })
  }
)

const createCmd = command(
  'create',
  summary('Create a VM from a script in a storage directory, print its key, and exit'),
  arg('<script>', 'the service script'),
  flag('--storage [dir]', 'storage directory (required, must be empty)'),
  async () => {
    const { readFile } = await import('node:fs/promises')
    const { basename } = await import('node:path')
    const file = createCmd.args.script!
    if (!createCmd.flags.storage) fail('give a storage directory with --storage DIR')
    const script = await readFile(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    const host = await VmHost.create(createCmd.flags.storage, { script, filename: basename(file) }).catch((err: Error) => fail(err.message))
    console.log(formatKey(host.key))
    await host.close()
  }
)

const cli = command('vms-node', summary('Auditable services: a sandboxed script, a signed call log, a files archive, replay'), createCmd, logCmd, replayCmd)

/** Open a VM's storage for reading (it must hold a VM, and not be open elsewhere), run `fn`, close. */
async function withCores(storage: string, fn: (cores: VmCores) => Promise<void>): Promise<void> {
  const cores = await openVmCores(storage, { existing: true }).catch((err) => fail(err.code === 'STORAGE_INVALID' ? err.message : `cannot open ${storage}: ${err.message} (is the VM still running?)`))
  try {
    await fn(cores)
  } finally {
    await closeVmCores(cores)
  }
}

function bar(pct: number): string {
  const n = Math.round(pct / 5)
  return '█'.repeat(n) + '░'.repeat(20 - n)
}

function fail(message: string): never {
  console.error(`vms-node: ${message}`)
  process.exit(1)
}

process.on('unhandledRejection', (err) => {
  console.error(`vms-node: ${err instanceof VmsError ? err.message : (err as Error)?.stack ?? err}`)
  process.exit(1)
})

cli.parse()

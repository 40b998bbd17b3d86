// The main job, locally: host rsvp.js, two callers answer, read the RSVPs
// back from the files archive, verify the receipts, and audit the log.
// (The swarm — serving by key over a DHT — comes with the swarm node.)
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmHost, Identity, verifyReceipt, replay, formatKey } from '../src/index.js'

const script = await readFile(new URL('../../examples/rsvp.js', import.meta.url), 'utf8')
const dir = await mkdtemp(join(tmpdir(), 'vms-demo-'))

const host = await VmHost.create(dir, { script, filename: 'rsvp.js', onLog: (level, msg) => console.log(`  [rsvp.js ${level}] ${msg}`) })
console.log(`hosting rsvp.js\n  key    ${formatKey(host.key)}   (the VM's address)\n  files  ${formatKey(host.drive.key)}\n  storage ${dir}`)

const alice = Identity.generate()
const bob = Identity.generate()
for (const [who, id, args] of [['alice', alice, [true, "wouldn't miss it"]], ['bob', bob, [false, 'Why tho?']]] as const) {
  const call = id.sign(host.key, 'RSVP', [...args])
  const { receipt } = await host.call(call)
  const entry = verifyReceipt(host.key, receipt, call)
  console.log(`${who} called RSVP(${args.map((a) => JSON.stringify(a)).join(', ')}) → logged as entry ${receipt.index}, receipt verified (files version ${entry.files.dbLength})`)
}

console.log('RSVPs read back from the files archive:')
for await (const name of host.drive.readdir('/rsvps')) {
  const body = await host.drive.get('/rsvps/' + name)
  console.log(`  /rsvps/${name}  ${body}`)
}
const { result } = await host.call(alice.sign(host.key, 'listRSVPs', []))
console.log(`listRSVPs() → ${Object.keys(result as object).length} answers`)

console.log('auditing the log by replay...')
const report = await replay(host.logAndFiles(), { onProgress: ({ index, total }) => console.log(`  replayed ${index}/${total} entries`) })
console.log(report.ok
  ? `verified: entries ${report.from}–${report.to - 1}, ${report.calls} calls, ${report.loads} load — the host ran exactly rsvp.js`
  : `DIVERGENCE: ${JSON.stringify(report.divergence ?? report.inconclusive)}`)

await host.close()
await rm(dir, { recursive: true, force: true })
process.exitCode = report.ok ? 0 : 1

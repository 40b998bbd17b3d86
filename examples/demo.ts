// The main job in one command, on a loopback DHT: a host serves rsvp.js, two
// callers dial it by key and answer yes and no, the RSVPs are read back from
// the replicated files archive, the log is audited by replay, and a volunteer
// that knows only the key audits it over the swarm and vouches for the calls.
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import createTestnet from 'hyperdht/testnet.js'
import { VmsNode, replay, formatKey, verifyReceipt, type Receipt } from '../src/index.js'

const script = await readFile(new URL('../../examples/rsvp.js', import.meta.url), 'utf8')
const dirs: string[] = []
const tmp = async () => { const d = await mkdtemp(join(tmpdir(), 'vms-demo-')); dirs.push(d); return d }

const testnet = await createTestnet(3)
console.log(`1. a local DHT on loopback: bootstrap 127.0.0.1:${testnet.bootstrap[0]!.port}`)

const hostNode = new VmsNode({ storage: await tmp(), dht: testnet.createNode(), onLog: (vm, level, msg) => console.log(`   [${vm} ${level}] ${msg}`) })
const vm = await hostNode.host(script, { name: 'rsvp', filename: 'rsvp.js' })
console.log(`2. the host serves rsvp.js\n   key ${formatKey(vm.key)}   (share this: it is the VM's address)`)

const alice = new VmsNode({ storage: await tmp(), dht: testnet.createNode() })
const bob = new VmsNode({ storage: await tmp(), dht: testnet.createNode() })
let aliceReceipt: Receipt | null = null
for (const [name, node, args] of [['alice', alice, [true, "wouldn't miss it"]], ['bob', bob, [false, 'Why tho?']]] as const) {
  const started = Date.now()
  const handle = await node.dial(vm.key)
  const { receipt } = await handle.callWithReceipt('RSVP', ...args)
  aliceReceipt ??= receipt
  const entry = verifyReceipt(vm.key, receipt)
  console.log(`3. ${name} dialled the key (${Date.now() - started} ms), called RSVP(${args.map((a) => JSON.stringify(a)).join(', ')}): entry ${receipt.index}, files version ${entry.files.dbLength}, receipt verified`)
}

const reader = await alice.dial(vm.key)
console.log('4. the RSVPs, read from the replicated files archive:')
for (const name of await reader.files.readdir('/rsvps')) {
  console.log(`   /rsvps/${name}  ${await reader.files.readFile('/rsvps/' + name, 'utf8')}`)
}

console.log('5. auditing the call log by replay:')
const report = await replay(vm.logAndFiles(), { onProgress: ({ index, total }) => console.log(`   replayed ${index}/${total} entries`) })
console.log(report.ok
  ? `   verified: entries ${report.from}–${report.to - 1}, ${report.calls} calls, ${report.loads} load — the host ran exactly rsvp.js`
  : `   DIVERGENCE: ${JSON.stringify(report.divergence ?? report.inconclusive)}`)

console.log('6. a volunteer that knows only the key audits it over the swarm:')
const volunteer = new VmsNode({ storage: await tmp(), dht: testnet.createNode() })
const audit = await volunteer.audit(vm.key)
console.log(audit.ok
  ? `   verified: entries ${audit.from}–${audit.to - 1}, ${audit.fetched?.bulk ?? 0} blocks fetched in checked stretches; it signs an attestation`
  : `   DIVERGENCE: ${JSON.stringify(audit.divergence ?? audit.inconclusive)}`)
let vouched = { count: 0 }
for (let i = 0; i < 50 && vouched.count === 0; i++) {
  vouched = await reader.vouchers(aliceReceipt!)
  if (vouched.count === 0) await new Promise((r) => setTimeout(r, 100))
}
console.log(`   alice asks who vouches for her entry ${aliceReceipt!.index}: ${vouched.count} auditor${vouched.count === 1 ? '' : 's'}`)

await volunteer.close()
await alice.close()
await bob.close()
await hostNode.close()
await testnet.destroy()
for (const d of dirs) await rm(d, { recursive: true, force: true })
process.exitCode = report.ok && audit.ok && vouched.count > 0 ? 0 : 1

// The party page in a browser, in one command (`npm run demo:web`), on a
// loopback DHT: a host serves rsvp.js, a gateway serves examples/party/ and
// relays the page's calls, and this prints the page's address and the
// explorer's. Ctrl-C stops it all and removes its temporary storage.
//
//   VMS_DEMO_PORT=8081          the gateway's port (default 8080; a free one if that is busy)
//   VMS_DEMO_EXIT_AFTER_READY=1 stop cleanly right after printing the addresses (for tests)
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import createTestnet from 'hyperdht/testnet.js'
import { VmsNode, formatKey } from '../src/index.js'
import { Gateway } from '../src/gateway/gateway.js'

// dist/examples/demo-web.js → examples/ in the source tree
const examples = new URL('../../examples/', import.meta.url)
const script = await readFile(new URL('rsvp.js', examples), 'utf8')
const pages = fileURLToPath(new URL('party/', examples))

const dirs: string[] = []
const tmp = async () => { const d = await mkdtemp(join(tmpdir(), 'vms-demo-web-')); dirs.push(d); return d }

const wanted = process.env.VMS_DEMO_PORT ? Number(process.env.VMS_DEMO_PORT) : 8080
if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) {
  console.error(`VMS_DEMO_PORT must be a port number (0 to 65535), not ${process.env.VMS_DEMO_PORT}`)
  process.exit(1)
}

const testnet = await createTestnet(3)
const hostNode = new VmsNode({ storage: await tmp(), dht: testnet.createNode(), onLog: (vm, level, msg) => console.log(`   [${vm} ${level}] ${msg}`) })
const gatewayNode = new VmsNode({ storage: await tmp(), dht: testnet.createNode() })
let gateway: Gateway | null = null
let closing: Promise<void> | null = null

async function shutdown(code: number): Promise<void> {
  closing ??= (async () => {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['the gateway', async () => { await gateway?.close() }],
      ['the gateway node', () => gatewayNode.close()],
      ['the host', () => hostNode.close()],
      ['the DHT', () => testnet.destroy()]
    ]
    for (const [what, step] of steps) {
      try { await step() } catch (err) { console.error(`   closing ${what}: ${(err as Error).message}`) }
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {})
  })()
  await closing
  process.exit(code)
}

process.on('SIGINT', () => {
  if (closing) { console.log('\nstopping now'); process.exit(130) }
  console.log('\nclosing…')
  void shutdown(0)
})
process.on('SIGTERM', () => { void shutdown(0) })

try {
  const vm = await hostNode.host(script, { name: 'rsvp', filename: 'rsvp.js' })
  const key = formatKey(vm.key)

  gateway = new Gateway(gatewayNode, { port: wanted, pages })
  try {
    await gateway.ready()
  } catch (err) {
    if (wanted === 0) throw err
    // The port is taken (or refused): any free one will do for a demo.
    console.log(/in use/.test((err as Error).message) ? `   port ${wanted} is busy: using a free port instead` : `   cannot listen on port ${wanted} (${(err as Error).message}): using a free port instead`)
    await gateway.close().catch(() => {})
    gateway = new Gateway(gatewayNode, { port: 0, pages })
    await gateway.ready()
  }

  console.log(`vms-node web demo, on a local DHT (bootstrap 127.0.0.1:${testnet.bootstrap[0]!.port})`)
  console.log(`   a host serves rsvp.js: VM ${key}`)
  console.log(`   a gateway serves examples/party/ and relays the page's calls\n`)
  console.log(`   the party page:  ${gateway.url}/?vm=${key}`)
  console.log(`   the explorer:    ${gateway.url}/vm/${key}\n`)
  if (process.env.VMS_DEMO_EXIT_AFTER_READY === '1') {
    await shutdown(0)
  } else {
    console.log('Open the party page, RSVP, and watch the call land in the explorer. Ctrl-C to stop.')
  }
} catch (err) {
  console.error(`the demo could not start: ${(err as Error).message}`)
  await shutdown(1)
}

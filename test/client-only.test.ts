import test from 'brittle'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { testnet, node } from './helpers/net.js'
import { RSVP } from './helpers/index.js'
import { formatKey } from '../src/index.js'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

// An app that only dials, calls and reads files, installed as a user installs
// it (the packed package, `npm install --omit=optional`): no isolated-vm. It
// talks to a VM this test hosts with the full install, over a loopback DHT;
// hosting and replay in the app fail with SANDBOX_UNAVAILABLE, saying what to install.
const APP = `
import { VmsNode, VmHost } from 'vms-node'
const [port, key, storage] = process.argv.slice(2)
const out = {}
const node = new VmsNode({ storage, bootstrap: [{ host: '127.0.0.1', port: Number(port) }], timeoutMs: 10000 })
await node.ready()
try {
  const rsvp = await node.dial(key)
  const { result, receipt } = await rsvp.callWithReceipt('RSVP', true, 'from a client-only install')
  out.result = result
  out.id = node.identity.id
  out.index = receipt.index
  out.names = await rsvp.files.readdir('/rsvps')
  out.file = JSON.parse(await rsvp.files.readFile('/rsvps/' + node.identity.id + '.json', 'utf8'))
  out.info = (await rsvp.info()).methods
  try { await node.host('exports.x = () => 1', { name: 'x' }); out.host = 'hosted' } catch (e) { out.host = e.message }
  try { await VmHost.create(storage + '-vm', { script: 'exports.x = () => 1' }); out.create = 'created' } catch (e) { out.create = e.message }
  try { await node.audit(key); out.audit = 'audited' } catch (e) { out.audit = e.message }
  await rsvp.close()
} finally {
  await node.close()
}
console.log(JSON.stringify(out))
`

test('client-only: an install without isolated-vm dials, calls and reads files; hosting, creating and auditing say what to install', { timeout: 300_000 }, async (t) => {
  const pack = await t.tmp()
  // dist/ is built (npm test builds first); the tarball holds what npm publishes.
  const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', pack], { cwd: ROOT })
  const tarball = join(pack, packed.trim().split('\n').pop()!)
  const app = await t.tmp()
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'rsvp-app', private: true, type: 'module', dependencies: { 'vms-node': `file:${tarball}` } }))
  await writeFile(join(app, 'app.js'), APP)
  await run('npm', ['install', '--omit=optional', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, timeout: 240_000 })
  t.ok(existsSync(join(app, 'node_modules', 'vms-node', 'dist', 'src', 'index.js')), 'vms-node is installed from its package')
  t.absent(existsSync(join(app, 'node_modules', 'isolated-vm')), 'isolated-vm is not')
  t.absent(readdirSync(join(app, 'node_modules')).some((n) => n.startsWith('bare-runtime')), 'nor any Bare runtime')

  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp', filename: 'rsvp.js' })
  const { stdout } = await run(process.execPath, ['app.js', String(net.bootstrap[0]!.port), formatKey(vm.key), await t.tmp()], { cwd: app, timeout: 120_000 })
  const out = JSON.parse(stdout.trim().split('\n').pop()!)
  t.is(out.index, 2, 'the call is logged (entry 2, after the genesis and the load) and its receipt checked')
  t.alike(out.names, [out.id + '.json'], 'the files archive lists the RSVP')
  t.alike(out.file, { isAttending: true, reason: 'from a client-only install' }, 'and the file reads back')
  t.alike(out.info, ['RSVP', 'list'], 'info names the methods')
  for (const what of ['host', 'create', 'audit']) {
    t.ok(/^SANDBOX_UNAVAILABLE: .*isolated-vm is not installed.*npm install isolated-vm@7/.test(out[what]), `${what}: ${out[what]}`)
  }
})

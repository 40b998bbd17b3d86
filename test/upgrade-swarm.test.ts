// Upgrades over the swarm: an owner's handle upgrades a hosted VM; pinned callers get
// SCRIPT_CHANGED with what changed; info, mirrors, audits and restarts follow the version.
import test from 'brittle'
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { VmsNode, Identity, formatKey, VmsError } from '../src/index.js'
import { scriptHash } from '../src/messages/index.js'
import { testnet, node } from './helpers/net.js'
import { until } from './helpers/index.js'

const V1 = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (yes) => { await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ yes })) }
exports.list = async () => (await System.files.readdir('/rsvps')).sort()
`
// Version 2: count (a view), list dropped, every answer migrated to a new shape.
const V2 = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (yes) => { await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ attending: yes })) }
exports.count = async () => (await System.files.readdir('/rsvps')).length
exports.count.view = true
exports.migrate = async (from) => {
  for (const name of await System.files.readdir('/rsvps')) {
    const old = JSON.parse(await System.files.readFile('/rsvps/' + name, 'utf8'))
    await System.files.writeFile('/rsvps/' + name, JSON.stringify({ attending: old.yes, migratedFrom: from }))
  }
}
`

type ScriptChanged = VmsError & { script?: { version: number; hash: Uint8Array; methods: string[]; added: string[]; removed: string[] } }

async function mirrored(m: { log: Hypercore; drive: Hyperdrive }, vm: { log: Hypercore; drive: Hyperdrive }): Promise<void> {
  const [mirrorBlobs, hostBlobs] = [(await m.drive.getBlobs()).core, (await vm.drive.getBlobs()).core]
  await until(() => m.log.contiguousLength >= vm.log.length && m.drive.db.core.contiguousLength >= vm.drive.db.core.length && mirrorBlobs.contiguousLength >= hostBlobs.length, 10000, 'the mirror to hold everything')
}

test('upgrade over the swarm: an owner upgrades, pinned callers get SCRIPT_CHANGED and repin, info shows the history, a mirror and an audit follow', async (t) => {
  const net = await testnet(t)
  const owner = Identity.generate()
  const hostStorage = await t.tmp()
  const hostNode = new VmsNode({ storage: hostStorage, dht: net.createNode(), identity: owner, timeoutMs: 5000 })
  t.teardown(() => hostNode.close())
  const vm = await hostNode.host(V1, { name: 'rsvp', filename: 'rsvp.js' })
  t.alike(vm.owners.map(formatKey), [owner.id], 'a node given an identity owns the VMs it makes')

  const guestNode = await node(t, net)
  const guest = await guestNode.dial(vm.key)
  await guest.call('RSVP', true)
  t.is(guest.script?.version, 1, 'calls are pinned to the version in force when the handle reached the host')
  t.alike(guest.script?.hash, scriptHash(V1))
  const before = await guest.info()
  t.is(before.version, 1)
  t.alike(before.owners, [owner.id], 'info names who may change the rules')
  t.alike(before.history.map((v) => [v.version, v.from]), [[1, 0]])

  // A non-owner is refused, over the wire, and nothing is logged.
  const length = vm.log.length
  const refused = await guest.upgrade(V2, { filename: 'rsvp-v2.js' }).catch((e: VmsError) => e)
  t.is((refused as VmsError).code, 'NOT_ALLOWED', (refused as VmsError).message)
  t.ok((refused as VmsError).message.includes(owner.id), 'the refusal names the owners')
  t.is(vm.log.length, length, 'a refused upgrade is never logged')

  // The owner upgrades from another node (its identity signs).
  const ownerNode = await node(t, net, { identity: owner })
  const admin = await ownerNode.dial(vm.key)
  const up = await admin.upgrade(V2, { filename: 'rsvp-v2.js' })
  t.is(up.version, 2)
  t.alike(up.hash, scriptHash(V2))
  t.alike(up.added, ['count'])
  t.alike(up.removed, ['list'])
  t.is(up.index, length, 'the upgrade is the next entry')
  t.is(admin.script?.version, 2, 'the owner\'s handle is pinned to the new version')
  t.is(await admin.call('RSVP', false), undefined, 'and its calls run on it')

  // The guest's handle is pinned to version 1: its next call is refused, not run, and says what changed.
  const afterUpgrade = vm.log.length
  const changed = await guest.call('RSVP', false).catch((e: ScriptChanged) => e) as ScriptChanged
  t.is(changed.code, 'SCRIPT_CHANGED', changed.message)
  t.is(changed.script?.version, 2)
  t.alike(changed.script?.hash, scriptHash(V2))
  t.alike(changed.script?.added, ['count'])
  t.alike(changed.script?.removed, ['list'])
  t.is(vm.log.length, afterUpgrade, 'a pinned call for another version is never logged')
  t.alike(JSON.parse(b4a.toString((await vm.drive.get('/rsvps/' + guestNode.identity.id + '.json'))!)), { attending: true, migratedFrom: 1 }, 'migrate ran; the refused call did not')
  const repinned = await guest.repin()
  t.is(repinned.version, 2, 'the app decides: it repins to version 2')
  await guest.call('RSVP', false)
  t.alike(JSON.parse(b4a.toString((await vm.drive.get('/rsvps/' + guestNode.identity.id + '.json'))!)), { attending: false })

  // An unpinned handle runs on whatever is in force.
  const loose = await (await node(t, net)).dial(vm.key)
  loose.pin(null)
  await loose.call('RSVP', true)
  t.is(loose.script, null)

  const info = await guest.info()
  t.is(info.version, 2)
  t.alike(info.scriptHash, scriptHash(V2))
  t.alike(info.history.map((v) => [v.version, v.filename, v.from, v.to]), [[1, 'rsvp.js', 0, up.index - 1], [2, 'rsvp-v2.js', up.index, info.length - 1]], 'history: v1 from the genesis, v2 from its upgrade entry')

  // A mirror follows the version at the entry it reads: its views run version 2.
  const total = vm.log.length
  const mirrorNode = await node(t, net)
  const m = await mirrorNode.mirror(vm.key)
  await mirrored(m, vm)
  await guest.close()
  await admin.close()
  await loose.close()
  await hostNode.close()
  const reader = await (await node(t, net, { timeoutMs: 3000 })).dial(vm.key)
  const fromMirror = await reader.info()
  t.is(fromMirror.host, false, 'info from the mirror')
  t.is(fromMirror.version, 2)
  t.ok(fromMirror.methods.includes('count') && !fromMirror.methods.includes('list'), 'the mirror describes version 2: ' + fromMirror.methods.join(','))
  t.is((await reader.view('count')).result, 3, 'a view on the mirror runs version 2')

  const report = await (await node(t, net)).audit(vm.key)
  t.ok(report.ok, 'audited across both versions: ' + JSON.stringify(report.divergence))
  t.is(report.to, total, 'to the log\'s end')
  t.is(report.upgrades, 1, 'one upgrade checked')
})

test('upgrade over the swarm: a restarted node serves version 2 (methods remembered for the lazy reopen), and an immutable VM refuses upgrades', async (t) => {
  const net = await testnet(t)
  const owner = Identity.generate()
  const storage = await t.tmp()
  let hostNode = new VmsNode({ storage, dht: net.createNode(), identity: owner, timeoutMs: 5000 })
  const vm = await hostNode.host(V1, { name: 'rsvp' })
  const fixed = await hostNode.host(V1, { name: 'fixed', owners: [] })
  t.alike(fixed.owners, [], 'owners [] makes the VM immutable')
  const key = vm.key
  const ownerNode = await node(t, net, { identity: owner })
  const admin = await ownerNode.dial(key)
  await admin.upgrade(V2)
  const refused = await (await ownerNode.dial(fixed.key)).upgrade(V2).catch((e: VmsError) => e)
  t.is((refused as VmsError).code, 'NOT_ALLOWED')
  t.ok((refused as VmsError).message.includes('immutable'), (refused as VmsError).message)
  // Hosting the old script again under the same name says how to change it.
  const again = await hostNode.host(V1, { name: 'rsvp' }).catch((e: VmsError) => e)
  t.is((again as VmsError).code, 'STORAGE_INVALID')
  t.ok((again as VmsError).message.includes('version 2') && (again as VmsError).message.includes('vms-node upgrade'), (again as VmsError).message)
  t.is(await hostNode.host(V2, { name: 'rsvp' }), vm, 'the script in force is the same VM')
  await admin.close()
  await hostNode.close()

  hostNode = new VmsNode({ storage, dht: net.createNode(), identity: owner, timeoutMs: 5000 })
  t.teardown(() => hostNode.close())
  const [reopened] = (await hostNode.hostStored()).filter((h) => b4a.equals(h.key, key))
  t.ok(reopened, 'reopened')
  t.is(reopened!.script.version, 2, 'version 2 is in force after the restart')
  t.alike(reopened!.methods, ['RSVP', 'count'], 'the lazy reopen knows version 2\'s methods before it loads')
  const caller = await (await node(t, net)).dial(key)
  await caller.call('RSVP', true)
  t.is(caller.script?.version, 2)
  t.is((await caller.view('count')).result, 1)
})

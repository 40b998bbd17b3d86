import test, { type Test } from 'brittle'
import b4a from 'b4a'
import Corestore from 'corestore'
import Hyperswarm, { type Connection } from 'hyperswarm'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { VmsNode, Identity, type VmHost } from '../src/index.js'
import { openReplica } from '../src/audit/swarm-replica.js'
import { MirrorFill } from '../src/node/mirror-fill.js'
import { storeVerified } from '../src/node/store-verified.js'
import { BlockCore } from '../src/messages/wire.js'
import { RSVP, until } from './helpers/index.js'
import { testnet, node } from './helpers/net.js'

/** More than two stretches of 1,024 blocks in each of the three cores. */
const CALLS = 2600

const cores = async (x: { log: Hypercore; drive: Hyperdrive }): Promise<Hypercore[]> => [x.log, x.drive.db.core, (await x.drive.getBlobs()).core]

/** A node hosting a VM that served CALLS calls; the lengths of its three cores. */
async function busyVm(t: Test, net: Awaited<ReturnType<typeof testnet>>): Promise<{ hostNode: VmsNode; vm: VmHost; lengths: number[] }> {
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp', maxQueue: 4096 })
  const ids = Array.from({ length: 100 }, () => Identity.generate())
  const calls = Array.from({ length: CALLS }, (_, i) => ids[i % ids.length]!.sign(vm.key, 'RSVP', [i % 2 === 0, 'call ' + i]))
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => { while (next < calls.length) await vm.call(calls[next++]!) }))
  return { hostNode, vm, lengths: (await cores(vm.logAndFiles())).map((c) => c.length) }
}

async function held(m: { log: Hypercore; drive: Hyperdrive }, lengths: number[]): Promise<void> {
  const cs = await cores(m)
  await until(() => cs.every((c, i) => c.contiguousLength >= lengths[i]!), 20000, 'the mirror to hold every block')
}

/** A plain Corestore on the testnet that replicates with every peer it meets (no vms-node), closed when the test ends. */
async function plainPeer(t: Test, net: Awaited<ReturnType<typeof testnet>>): Promise<{ store: Corestore; swarm: Hyperswarm }> {
  const store = new Corestore(await t.tmp())
  const swarm = new Hyperswarm({ dht: net.createNode() })
  t.teardown(async () => { await swarm.destroy(); await store.close() })
  swarm.on('connection', (conn: Connection) => { conn.on('error', () => {}); store.replicate(conn) })
  return { store, swarm }
}

/** A VM's log and archive on a plain peer (not a vms-node), closed when the test ends. */
async function plainReplica(t: Test, net: Awaited<ReturnType<typeof testnet>>, key: Buffer): Promise<Awaited<ReturnType<typeof openReplica>>> {
  const { store, swarm } = await plainPeer(t, net)
  const replica = await openReplica(store, swarm, key, { timeoutMs: 5000 })
  t.teardown(() => replica.close())
  return replica
}

/** Every block of `core`, downloaded by plain hypercore replication from whoever serves it: each comes with a proof hypercore checks. */
async function replicateAll(t: Test, net: Awaited<ReturnType<typeof testnet>>, discoveryKey: Uint8Array, key: Uint8Array, length: number): Promise<Hypercore> {
  const { store, swarm } = await plainPeer(t, net)
  swarm.join(discoveryKey, { client: true, server: false })
  const core = store.get({ key })
  await core.ready()
  core.download({ start: 0, end: length })
  // A block the mirror cannot prove never arrives: fail with a message instead of hanging.
  await until(() => core.contiguousLength >= length, 15000, `all ${length} blocks to replicate from the mirror, each with a proof`)
  return core
}

test('mirror: a first copy comes in checked bulk stretches; its stored tree proves every block to others with the host gone; a restart holds it all', async (t) => {
  const net = await testnet(t)
  const { hostNode, vm, lengths } = await busyVm(t, net)
  const treeHashes = await Promise.all((await cores(vm.logAndFiles())).map((c) => c.treeHash()))
  t.ok(lengths.every((n) => n > 2048), `three long cores (${lengths.join(', ')} blocks)`)

  const storage = await t.tmp()
  const mirrorNode = new VmsNode({ storage, dht: net.createNode(), timeoutMs: 5000 })
  const m = await mirrorNode.mirror(vm.key)
  const filled = await m.filled
  t.is(filled.failure, null, 'no stretch was refused')
  t.is(filled.bulk, lengths.reduce((a, b) => a + b, 0), 'every block of the three cores came in bulk stretches')
  await held(m, lengths)
  const mine = await cores(m)
  for (let i = 0; i < 3; i++) t.alike(await mine[i]!.treeHash(lengths[i]), treeHashes[i], `core ${i}: the same tree as the host's`)
  for (const i of [0, 1025, lengths[0]! - 1]) t.alike(await m.log.get(i), await vm.log.get(i), `log entry ${i} as the host wrote it`)

  // The host goes away: the mirror alone proves each block to a plain hypercore peer.
  await hostNode.close()
  const blobsKey = mine[2]!.key
  for (const [i, key] of [m.log.key, m.drive.db.core.key, blobsKey].entries()) {
    const copy = await replicateAll(t, net, m.log.discoveryKey, key, lengths[i]!)
    t.alike(await copy.treeHash(lengths[i]), treeHashes[i], `core ${i}: a plain hypercore replica of the mirror, every block proven, has the host's tree`)
  }
  const auditor = await node(t, net, { timeoutMs: 5000 })
  const report = await auditor.audit(vm.key, { bulk: false })
  t.ok(report.ok, 'an audit through plain replication from the mirror alone checks out')
  t.is(report.calls, CALLS)

  // A restart: the copy is all on disk, nothing to fetch.
  await mirrorNode.close()
  const again = new VmsNode({ storage, dht: net.createNode(), timeoutMs: 5000 })
  t.teardown(() => again.close())
  const [m2] = await again.mirrorStored()
  const reopened = await cores(m2!)
  t.alike(reopened.map((c) => c.contiguousLength), lengths, 'after a restart the mirror holds every block, with no peer to ask')
})

test('mirror: a node closed during a first copy halts it without a failure; reopened, it resumes in bulk from what it holds', async (t) => {
  const net = await testnet(t)
  const { vm, lengths } = await busyVm(t, net)
  const total = lengths.reduce((a, b) => a + b, 0)
  const storage = await t.tmp()
  const first = new VmsNode({ storage, dht: net.createNode(), timeoutMs: 5000 })
  const m = await first.mirror(vm.key)
  let done = false
  m.filled.then(() => { done = true }, () => {})
  await until(() => done || m.log.contiguousLength >= 1024, 10000, 'the first stretch')
  await first.close()
  const cut = await m.filled
  t.is(cut.failure, null, `closing is not a failure (${cut.bulk} of ${total} blocks had come)`)
  const again = new VmsNode({ storage, dht: net.createNode(), timeoutMs: 5000 })
  t.teardown(() => again.close())
  const [m2] = await again.mirrorStored()
  const resumed = await m2!.filled
  t.is(resumed.failure, null)
  t.ok(cut.bulk + resumed.bulk >= total, `the rest came in bulk too (${cut.bulk} + ${resumed.bulk} of ${total})`)
  await held(m2!, lengths)
  t.alike(await m2!.log.treeHash(lengths[0]), await vm.log.treeHash(lengths[0]), 'the log is the host\'s')
})

test('mirror: a stretch that is not what the core\'s owner signed is not stored; replication brings the rest', async (t) => {
  const net = await testnet(t)
  const { vm, lengths } = await busyVm(t, net)

  const replica = await plainReplica(t, net, vm.key)
  // A peer that alters one block of the log's second stretch, and hands out the rest as it should.
  const honest = vm.logAndFiles()
  const hostBlobs = (await honest.drive.getBlobs()).core
  const source = (core: BlockCore) => core === BlockCore.LOG ? honest.log : core === BlockCore.FILES ? honest.drive.db.core : hostBlobs
  let altered = false
  const fill = new MirrorFill(replica, async () => ({
    fetch: async (core, start, end) => {
      const blocks: Uint8Array[] = []
      for (let i = start; i < Math.min(end, start + 1024); i++) blocks.push((await source(core).get(i))!)
      if (core === BlockCore.LOG && start <= 1500 && 1500 < start + blocks.length) {
        blocks[1500 - start] = b4a.from('not the entry the host signed')
        altered = true
      }
      return blocks
    },
    release: async () => {}
  }), 5000)
  const result = await fill.done
  t.ok(altered, 'the altered stretch was handed out')
  t.ok(result.failure?.includes('blocks 1024–2047 are not the ones the core\'s owner signed'), 'the fill names the stretch that did not check out')
  t.ok(result.bulk >= 1024 + lengths[1]! + lengths[2]!, 'the log\'s first stretch and the other cores came in bulk')
  t.ok(result.bulk < lengths.reduce((a, b) => a + b, 0), 'the bad stretch was not counted')
  await held(replica, lengths)
  t.alike(await replica.log.get(1500), await vm.log.get(1500), 'block 1500 came by replication, as the host wrote it')
  t.alike(await replica.log.treeHash(lengths[0]), await vm.log.treeHash(lengths[0]), 'and the log is the host\'s')
  // Blocks checked against another fork's tree, or past the core's length, are never stored.
  const block0 = (await vm.log.get(0))!
  await t.exception(storeVerified(replica.log, replica.log.fork + 1, 0, [block0], []), /forked/, 'a stretch checked before the core forked')
  await t.exception(storeVerified(replica.log, replica.log.fork, replica.log.length, [block0], []), /past the core's length/, 'a stretch past the core\'s length')
})

test('mirror: when no peer serves stretches, the fill says so and replication copies it all', async (t) => {
  const net = await testnet(t)
  const { vm, lengths } = await busyVm(t, net)
  const replica = await plainReplica(t, net, vm.key)
  const fill = new MirrorFill(replica, async () => { throw new Error('HOST_OFFLINE: no peer answered on the VM\'s channel') }, 5000)
  const result = await fill.done
  t.is(result.bulk, 0)
  t.ok(result.failure?.startsWith('no peer serves stretches (HOST_OFFLINE'), result.failure ?? '')
  await held(replica, lengths)
  t.alike(await replica.log.treeHash(lengths[0]), await vm.log.treeHash(lengths[0]), 'block by block, the log is the host\'s')
})

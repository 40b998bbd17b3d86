import test from 'brittle'
import b4a from 'b4a'
import c from 'compact-encoding'
import Hyperswarm, { type Connection } from 'hyperswarm'
import { replay, BlockCore, Identity } from '../src/index.js'
import { openVmCores } from '../src/host/vm-storage.js'
import { PROTOCOL, Role, hello } from '../src/messages/wire.js'
import { encode } from '../src/messages/index.js'
import { BlockFeed } from '../src/audit/block-feed.js'
import { openReplica, downloadAll } from '../src/audit/swarm-replica.js'
import { RSVP, Corestore } from './helpers/index.js'
import { testnet, node, rogueServer, rogueClient } from './helpers/net.js'

test('bulk blocks: a host hands out stretches of its log and files hyperbee as they are; bad requests get a typed error or lose the channel', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const handle = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 5; i++) await handle.call('RSVP', i % 2 === 0, 'n' + i)
  const length = vm.log.length
  const log = await handle.blocks(BlockCore.LOG, 0, length + 10)
  t.is(log.length, length, 'as many log blocks as the host holds, no more')
  for (let i = 0; i < length; i++) t.alike(b4a.from(log[i]!), await vm.log.get(i), `log block ${i} as stored`)
  const files = await handle.blocks(BlockCore.FILES, 1, vm.drive.db.core.length)
  t.alike(b4a.from(files[0]!), await vm.drive.db.core.get(1), 'files hyperbee blocks from where asked')
  t.alike(await handle.blocks(BlockCore.LOG, length, length + 5), [], 'none past the end')
  const err = await handle.blocks(7 as BlockCore, 0, 1).catch((e: { code: string }) => e)
  t.is((err as { code: string }).code, 'MALFORMED_REQUEST', 'an unknown core is a typed error')

  // A peer that sends a blocks request that does not decode loses that channel, nothing else.
  const mux = await rogueClient(t, net, vm.discoveryKey)
  let closed!: () => void
  const gone = new Promise<void>((r) => { closed = r })
  let opened!: () => void
  const open = new Promise<void>((r) => { opened = r })
  const ch = mux.createChannel({ protocol: PROTOCOL, id: vm.key, handshake: c.raw, onopen: () => opened(), onclose: () => closed() })!
  const messages = Array.from({ length: 10 }, () => ch.addMessage({ encoding: c.raw, onmessage: () => {} }))
  ch.open(encode(hello, { role: Role.CLIENT, signer: null, proof: null, info: null }))
  await open
  messages[8]!.send(b4a.from([0xff, 0xff, 0xff, 0xff]))
  await gone
  t.pass('a malformed blocks request closes that channel')
  t.is((await handle.blocks(BlockCore.LOG, 0, 1)).length, 1, 'the host still serves everyone else')

  // Closing the handle ends what it waits for at once (no timer left behind).
  const asked = handle.blocks(BlockCore.LOG, 0, 1).catch((e: { code: string }) => e.code)
  const viewed = handle.view('list').catch((e: { code: string }) => e.code)
  await handle.close()
  t.alike([await asked, await viewed], ['CLOSED', 'CLOSED'], 'requests in flight are refused CLOSED')
})

test('bulk blocks: a feed hands out only stretches that match the signed tree; a peer that alters a block is caught and the audit falls back to replication', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 30; i++) await caller.call('RSVP', i % 2 === 0, 'n' + i)
  const volunteer = await node(t, net)
  const handle = await volunteer.dial(vm.key)
  const replica = await openReplica(volunteer.store, volunteer.swarm, vm.key)
  t.teardown(() => replica.close())
  await replica.log.update({ wait: true })
  const length = replica.log.length
  t.is(length, vm.log.length)

  const honest = new BlockFeed(replica.log, (a, b) => handle.blocks(BlockCore.LOG, a, b), { end: length, stretch: 8 })
  for (let i = 0; i < length; i++) t.alike(b4a.from((await honest.get(i))!), await vm.log.get(i), `block ${i} verified`)
  t.is(honest.failure, null)
  t.is(honest.verified, length, 'every block came in bulk')
  t.is(await honest.get(length), null, 'past its end a feed has nothing: the reader asks the core')

  // A reader that jumps ahead (a stretch audit reads the genesis, then its checkpoint) does not fetch what lies between.
  const jumpy = new BlockFeed(replica.log, (a, b) => handle.blocks(BlockCore.LOG, a, b), { end: length, stretch: 2, ahead: 1 })
  t.alike(b4a.from((await jumpy.get(0))!), await vm.log.get(0))
  t.alike(b4a.from((await jumpy.get(length - 1))!), await vm.log.get(length - 1), 'the far block, verified from the signed tree at its stretch')
  t.ok(jumpy.verified <= 8, `fetched ${jumpy.verified} of ${length} blocks`)
  t.is(await jumpy.get(10), null, 'a block it skipped is the core\'s to give')
  t.is(jumpy.failure, null)

  // A flood of block requests on one channel: beyond the limit they are answered QUEUE_FULL, and a feed asks again.
  const flood = await Promise.all(Array.from({ length: 40 }, () => handle.blocks(BlockCore.LOG, 0, length).then(() => 'ok', (e: { code: string }) => e.code)))
  t.ok(flood.includes('QUEUE_FULL') && flood.includes('ok'), 'some answered, the rest QUEUE_FULL: ' + [...new Set(flood)].join(', '))
  const eager = new BlockFeed(replica.log, (a, b) => handle.blocks(BlockCore.LOG, a, b), { end: length, stretch: 1, ahead: 40 })
  t.alike(b4a.from((await eager.get(0))!), await vm.log.get(0))
  t.alike(b4a.from((await eager.get(length - 1))!), await vm.log.get(length - 1), 'a feed that asks for more than the peer takes at once still gets every stretch')
  t.is(eager.failure, null)

  // Peers that hold none of a stretch (a mirror still catching up) answer nothing: the feed asks again, which goes to the next peer.
  let turn = 0
  const partial = new BlockFeed(replica.log, async (a, b) => turn++ % 2 === 0 ? [] : handle.blocks(BlockCore.LOG, a, b), { end: length, stretch: 8 })
  for (let i = 0; i < length; i++) t.ok(await partial.get(i), `block ${i}, with every other peer holding nothing`)
  t.is(partial.failure, null)
  t.is(partial.verified, length, 'every block still came in bulk')
  const nobody = new BlockFeed(replica.log, async () => [], { end: length, stretch: 8 })
  t.is(await nobody.get(0), null, 'when no peer holds a stretch, the feed gives up')
  t.ok(nobody.failure?.includes('no peer holds blocks from 0'), nobody.failure ?? '')

  // A peer that alters block 12: the stretch 8–15 does not hash to the signed tree.
  const lying = (): BlockFeed => new BlockFeed(replica.log, async (a, b) => {
    const got = await handle.blocks(BlockCore.LOG, a, b)
    if (a <= 12 && 12 < a + got.length) got[12 - a] = b4a.concat([got[12 - a]!, b4a.from('x')])
    return got
  }, { end: length, stretch: 8 })
  const feed = lying()
  t.ok(await feed.get(3), 'the stretch before it checks out')
  t.is(await feed.get(12), null, 'the altered stretch is never handed out')
  t.ok(feed.failure?.includes('not the ones the core\'s owner signed'), feed.failure ?? '')
  t.is(await feed.get(20), null, 'and the feed gives up')

  const report = await replay(replica, { feeds: { log: lying() }, checkTrailing: false })
  t.ok(report.ok, 'the replay read the rest from the core: ' + JSON.stringify(report.divergence ?? report.inconclusive))
  t.is(report.calls, 30)
})

test('bulk blocks: a peer that drops the connection before it answers fails the request at once (CONNECTION_LOST), not at the time-out', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const key = vm.key
  const filesKey = vm.drive.key
  const length = vm.log.length
  await hostNode.close()
  // A peer that says it mirrors the VM, takes requests and never answers them.
  let asked!: () => void
  const gotRequest = new Promise<void>((r) => { asked = r })
  const channels: Array<{ close(): void }> = []
  await rogueServer(t, net, vm.discoveryKey, (mux, id) => {
    const ch = mux.createChannel({ protocol: PROTOCOL, id, handshake: c.raw })
    if (!ch) return
    for (let i = 0; i < 10; i++) ch.addMessage({ encoding: c.raw, onmessage: () => { if (i === 8) asked() } })
    ch.open(encode(hello, { role: Role.MIRROR, signer: null, proof: null, info: { methods: [], views: [], filesKey, length, oracles: [] } }))
    channels.push(ch)
  })
  const handle = await (await node(t, net, { timeoutMs: 30000 })).dial(key)
  const started = Date.now()
  const pending = handle.blocks(BlockCore.LOG, 0, length).catch((e: { code: string }) => e.code)
  await gotRequest
  for (const ch of channels) ch.close()
  t.is(await pending, 'CONNECTION_LOST')
  t.ok(Date.now() - started < 10000, `refused after ${Date.now() - started} ms, not the 30 s time-out`)
})

test('replay over a replica whose peers went away stops inconclusive, with a hint, instead of waiting for ever', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 3; i++) await caller.call('RSVP', true, 'n' + i)
  const volunteer = await node(t, net)
  const replica = await openReplica(volunteer.store, volunteer.swarm, vm.key)
  t.teardown(() => replica.close())
  await replica.log.update({ wait: true })
  await caller.close()
  await hostNode.close()
  const started = Date.now()
  const report = await replay(replica, { checkTrailing: false, readTimeoutMs: 300 })
  t.absent(report.ok)
  t.ok(report.inconclusive?.includes('is the host or a mirror online'), report.inconclusive ?? '')
  t.ok(Date.now() - started < 10000, `gave up after ${Date.now() - started} ms`)
})

test('replay: a file read that no peer answers in time makes the replay inconclusive, never a divergence', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const script = `exports.put = async (v) => { await System.files.writeFile('/v', v) }
exports.get = async () => System.files.readFile('/v', 'utf8')`
  const first = await node(t, net, { storage }) // (also closed in the test)
  const vm = await first.host(script, { name: 'kv' })
  await (await (await node(t, net)).dial(vm.key)).call('put', 'x'.repeat(100))
  await first.close()
  // After the restart (a load entry: a fresh isolate in the replay too), get() must read /v from the archive.
  const again = await node(t, net, { storage }) // (also closed in the test)
  await again.hostStored()
  const caller = await (await node(t, net)).dial(vm.key)
  t.is(await caller.call('get'), 'x'.repeat(100))
  // A volunteer holds the log and the hyperbee, not the file contents, when the host goes away.
  const volunteer = await node(t, net)
  const replica = await openReplica(volunteer.store, volunteer.swarm, vm.key)
  t.teardown(() => replica.close())
  await downloadAll(replica)
  await caller.close()
  await again.close()
  const report = await replay(replica, { checkTrailing: false, readTimeoutMs: 300 })
  t.is(report.divergence, null, 'not a divergence: ' + JSON.stringify(report.divergence))
  t.ok(report.inconclusive?.includes('is the host or a mirror online'), report.inconclusive ?? '')
})

test('audit: a log whose last entry does not decode, served by a bare peer, is reported as a malformed entry (the audit does not throw)', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = await node(t, net, { storage }) // (also closed in the test)
  const vm = await first.host(RSVP, { name: 'rsvp' })
  await vm.call(Identity.generate().sign(vm.key, 'RSVP', [true, 'fine']))
  await first.close()
  // The host's cores, with garbage appended to the log, served by plain replication (no VM channel, so no bulk blocks).
  const store = new Corestore(storage)
  t.teardown(() => store.close())
  const cores = await openVmCores(store.namespace('vm/rsvp'))
  await cores.log.append(b4a.from('not a log entry'))
  const garbage = cores.log.length - 1
  const server = new Hyperswarm({ dht: net.createNode() })
  t.teardown(() => server.destroy())
  server.on('connection', (conn: Connection) => { conn.on('error', () => {}); store.replicate(conn) })
  await server.join(vm.discoveryKey, { server: true, client: false }).flushed()

  const report = await (await node(t, net, { timeoutMs: 2000 })).audit(vm.key)
  t.is(report.divergence?.class, 'malformed-entry', JSON.stringify(report.divergence ?? report.inconclusive))
  t.is(report.divergence?.index, garbage)
  t.is(report.fetched, undefined, 'fetched by plain replication: the peer serves no bulk blocks')
})

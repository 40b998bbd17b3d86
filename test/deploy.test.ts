import test from 'brittle'
import { Identity } from '../src/index.js'
import { RSVP } from './helpers/index.js'
import { testnet, node } from './helpers/net.js'

test('deploy: listed keys provision VMs on a node found by its key; others are refused; quotas hold', async (t) => {
  const net = await testnet(t)
  const alice = Identity.generate()
  const bob = Identity.generate()
  const provider = await node(t, net, { deploy: { allow: [alice.publicKey], maxVms: 2, maxCallsPerSecond: 5 } })

  const aliceNode = await node(t, net, { identity: alice })
  const remote = await aliceNode.manage(provider.key)
  const { key } = await remote.deploy(RSVP, 'rsvp.js')
  t.is(key.length, 52, 'the deployer gets the new VM key')
  const vm = await aliceNode.dial(key)
  t.is(await vm.call('RSVP', true, 'deployed'), undefined)
  t.alike((await remote.ls()).map((v) => v.key), [key])

  const bobNode = await node(t, net, { identity: bob })
  const denied = await (await bobNode.manage(provider.key)).deploy(RSVP).catch((e: { code: string; message: string }) => e)
  t.is((denied as { code: string }).code, 'NOT_ALLOWED')
  t.ok((denied as { message: string }).message.includes('--allow-deploy'), 'says how to get allowed')

  await remote.deploy(RSVP, 'second.js')
  const third = await remote.deploy(RSVP, 'third.js').catch((e: { code: string }) => e)
  t.is((third as { code: string }).code, 'QUOTA_EXCEEDED', 'no more VMs than the node allows')

  const burst = await Promise.all(Array.from({ length: 20 }, () => vm.call('RSVP', false, 'burst').then(() => 'ok', (e: { code: string }) => e.code)))
  t.ok(burst.includes('QUOTA_EXCEEDED'), 'calls per second are limited per VM')
  t.ok(burst.includes('ok'))

  await remote.stop(key)
  t.is((await remote.ls()).length, 1, 'stopped: no longer served')
  t.absent((await remote.ls()).some((v) => v.key === key))
})

test('deploy: a node keeps its key across restarts, so deployers find it again', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const { VmsNode } = await import('../src/index.js')
  const first = new VmsNode({ storage, dht: net.createNode(), deploy: { allow: [] } })
  t.teardown(() => first.close()) // (also closed in the test)
  await first.ready()
  const key = first.key
  await first.close()
  const second = new VmsNode({ storage, dht: net.createNode(), deploy: { allow: [] } })
  t.teardown(() => second.close())
  await second.ready()
  t.alike(second.key, key)
})

test('deploy: a VM over its storage quota refuses further calls', async (t) => {
  const net = await testnet(t)
  const alice = Identity.generate()
  const provider = await node(t, net, { deploy: { allow: [alice.publicKey], maxStorageBytes: 4096 } })
  const aliceNode = await node(t, net, { identity: alice })
  const { key } = await (await aliceNode.manage(provider.key)).deploy(`exports.fill = async (i) => { await System.files.writeFile('/f' + i, 'x'.repeat(1000)) }`, 'fill.js')
  const vm = await aliceNode.dial(key)
  let refused: { code: string; message: string } | null = null
  for (let i = 0; i < 20 && !refused; i++) await vm.call('fill', i).catch((e: { code: string; message: string }) => { refused = e })
  t.ok(refused, 'refused once the files grew past the quota')
  t.is(refused!.code, 'QUOTA_EXCEEDED')
  t.ok(refused!.message.includes('quota of 4096'))
})

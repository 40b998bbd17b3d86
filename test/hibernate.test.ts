import test from 'brittle'
import { readdirSync, readlinkSync } from 'node:fs'
import { Identity, replay, EntryType, LoadReason } from '../src/index.js'
import { RSVP, entries, until } from './helpers/index.js'
import { testnet, node } from './helpers/net.js'

test('idle VMs are unloaded and woken by the next call, with a load entry; the log audits clean across it', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net, { idleMs: 200 })
  const vm = await hostNode.host(RSVP + `
let calls = 0
exports.count = async () => ++calls`, { name: 'rsvp' })
  const alice = Identity.generate()
  t.is((await vm.call(alice.sign(vm.key, 'count', []))).result, 1)
  t.is((await vm.call(alice.sign(vm.key, 'count', []))).result, 2)
  const spawned = vm.sandboxSpawns
  const journalOpen = () => readdirSync('/proc/self/fd').some((fd) => {
    try { return readlinkSync('/proc/self/fd/' + fd).includes('vms-redo') } catch { return false }
  })
  t.ok(journalOpen(), 'a loaded VM holds its redo journal open')
  await until(() => !vm.loaded, 10000, 'the idle VM to unload')
  t.pass('unloaded after being idle')
  t.absent(journalOpen(), 'an unloaded VM holds no file descriptor for its journal (a node may hold thousands)')
  t.is((await vm.call(alice.sign(vm.key, 'count', []))).result, 1, 'woken: in-memory state starts over, as a load entry says')
  t.ok(journalOpen(), 'and opens it again when woken')
  t.ok(vm.sandboxSpawns > spawned, 'a new sandbox process')
  const list = await entries(vm.log)
  const wake = list[list.length - 2]!
  t.ok(wake.type === EntryType.LOAD && wake.reason === LoadReason.WAKE, 'a wake load entry before the call')
  await vm.call(alice.sign(vm.key, 'RSVP', [true, 'after waking']))
  t.ok((await replay(vm.logAndFiles())).ok, 'the log replays clean across the wake')
  const over = await (await node(t, net)).audit(vm.key)
  t.ok(over.ok, 'and a volunteer audits it clean')
})

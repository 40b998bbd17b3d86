import test from 'brittle'
import { readdirSync, readlinkSync, readFileSync } from 'node:fs'
import { Identity, replay, EntryType, LoadReason, VmsNode } from '../src/index.js'
import { RSVP, entries, until } from './helpers/index.js'
import { testnet, node } from './helpers/net.js'

/** Sandbox processes this process runs now (a node's warm spare included). */
function sandboxes(): number {
  let n = 0
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sandbox/child.js')) n++
    } catch {}
  }
  return n
}

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
  // The node's only VM is unloaded: at most its one warm spare runs.
  await until(() => sandboxes() <= 1, 5000, 'no sandbox process but the node\'s warm spare')
  await new Promise((r) => setTimeout(r, 400)) // and once the node has started its next spare
  t.ok(sandboxes() <= 1, 'an unloaded VM holds no sandbox process')
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

test('a node restarting reopens its VMs unloaded: no process each, methods known, the first call loads the script and logs the restart', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = new VmsNode({ storage, dht: net.createNode(), idleMs: 0 })
  const alice = Identity.generate()
  const keys = []
  for (let i = 0; i < 3; i++) {
    const vm = await first.host(RSVP, { name: 'vm' + i })
    await vm.call(alice.sign(vm.key, 'RSVP', [true, 'before']))
    keys.push(vm.key)
  }
  await first.close()
  const before = sandboxes()
  const again = new VmsNode({ storage, dht: net.createNode(), idleMs: 0 })
  t.teardown(() => again.close())
  const hosts = await again.hostStored()
  t.is(hosts.length, 3)
  t.ok(hosts.every((h) => !h.loaded), 'every VM reopens unloaded')
  t.ok(sandboxes() - before <= 1, `no sandbox process per VM (${sandboxes() - before} started: the node's warm spare)`)
  t.alike(hosts[0]!.methods, ['RSVP', 'list'], 'its methods are known, from its last load')
  const length = hosts[0]!.log.length
  const info = await (await node(t, net)).dial(keys[0]!).then((h) => h.info())
  t.alike(info.methods, ['RSVP', 'list'], 'a client learns them before any call')
  t.is(hosts[0]!.log.length, length, 'nothing logged until a call')
  await hosts[0]!.call(alice.sign(keys[0]!, 'RSVP', [false, 'after']))
  const list = await entries(hosts[0]!.log)
  const load = list[list.length - 2]!
  t.ok(load.type === EntryType.LOAD && load.reason === LoadReason.RESTART, 'the first call comes after a restart load entry')
  t.ok((await replay(hosts[0]!.logAndFiles())).ok, 'the log replays clean across the restart')
})

// Brittle tests that run under Bare (spawned by test/bare.test.ts with
// brittle-bare): dial a VM served by a Node host, call it, read its files;
// hosting fails clearly. The environment gives VMS_BARE_STORAGE (a directory),
// VMS_BARE_PORT (the loopback DHT's bootstrap port), VMS_BARE_KEY (the VM), and
// VMS_BARE_UPGRADED_KEY, VMS_BARE_OLD_HASH (a VM upgraded from the script of that hash).
import test from 'brittle'
import env from 'bare-env'
import b4a from 'b4a'
import { VmsNode, verifyReceipt, signedLength } from '../../src/client.js'

const g = globalThis as unknown as { Bare?: unknown }
const { VMS_BARE_STORAGE: storage = '', VMS_BARE_PORT: port = '', VMS_BARE_KEY: key = '', VMS_BARE_UPGRADED_KEY: upgradedKey = '', VMS_BARE_OLD_HASH: oldHash = '' } = env

let node: VmsNode

test('runs under Bare', (t) => {
  t.ok(g.Bare, 'the Bare global is there')
  t.ok(storage && port && key, 'given storage, bootstrap port and VM key')
  node = new VmsNode({ storage, bootstrap: [{ host: '127.0.0.1', port: Number(port) }], timeoutMs: 10000 })
})

test('dial a VM by key and read what it offers', async (t) => {
  const vm = await node.dial(key)
  const info = await vm.info()
  t.alike(info.methods, ['RSVP', 'list'])
  t.is(info.trust, 'trustless')
})

test('call it: signed, logged, the receipt verifies against the VM key', async (t) => {
  const vm = await node.dial(key)
  const { receipt } = await vm.callWithReceipt('RSVP', true, 'from Bare')
  t.is(receipt.index, 2, 'the first call after genesis and load')
  t.is(verifyReceipt(vm.key, receipt).method, 'RSVP', 'the receipt verifies and names the call')
})

test('read its files from the replicated archive', async (t) => {
  const vm = await node.dial(key)
  const names = await vm.files.readdir('/rsvps')
  t.is(names.length, 1)
  t.is(await vm.files.readFile('/rsvps/' + names[0], 'utf8'), '{"isAttending":true,"reason":"from Bare"}')
})

test('many calls at once: committed together, their receipts share the log\'s signature and each verifies', async (t) => {
  const vm = await node.dial(key)
  const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => vm.callWithReceipt('RSVP', i % 2 === 0, 'burst ' + i)))
  let ok = 0
  let later = 0
  for (const { receipt } of answers) {
    if (verifyReceipt(vm.key, receipt).method === 'RSVP') ok++
    if (signedLength(receipt) > receipt.index + 1) later++
  }
  t.is(ok, 24, 'every receipt verifies')
  t.ok(later > 0, `some are signed at their group's end, past their entry (${later} of 24)`)
})

test('a call made for a script version that was upgraded away: SCRIPT_CHANGED with what changed, not run; repinned, it runs', async (t) => {
  const vm = await node.dial(upgradedKey)
  vm.pin(b4a.from(oldHash, 'hex'), { version: 1, methods: ['RSVP', 'list'] })
  const err = await vm.call('RSVP', true, 'pinned to v1').then(() => null, (e: Error & { code?: string; script?: { version: number; added: string[]; removed: string[] } }) => e)
  t.is(err?.code, 'SCRIPT_CHANGED', err?.message)
  t.is(err?.script?.version, 2)
  t.alike(err?.script?.added, ['count'])
  t.alike(err?.script?.removed, [])
  t.is((await vm.repin()).version, 2)
  await vm.call('RSVP', true, 'on v2')
  t.is(await vm.call('count'), 1, 'only the repinned call ran')
})

test('hosting needs Node: a clear error', async (t) => {
  const err = await node.host('exports.a = async () => 1', { name: 'x' }).then(() => null, (e: { code?: string; message: string }) => e)
  t.is(err?.code, 'SANDBOX_UNAVAILABLE')
  t.ok(/Node/.test(err?.message ?? ''), err?.message)
})

test('close', async () => {
  await node.close()
})

import test, { type Test } from 'brittle'
import { VmsNode, VmHost, Identity, replay, decodeEntry, mirrorProgress, combineReports, formatKey } from '../src/index.js'
import { makeEvidence, verifyEvidence } from '../src/index.js'
import crypto from 'hypercore-crypto'

import { EntryType, encode, logEntry } from '../src/messages/index.js'
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { RSVP, entries, renameFileBlock, rawEntries, until } from './helpers/index.js'
import { runCli } from './helpers/cli.js'
import { testnet, node } from './helpers/net.js'

test('audit over the swarm: a volunteer with only the network verifies an honest host', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 20; i++) await caller.call('RSVP', i % 2 === 0, 'n' + i)
  const volunteer = await node(t, net)
  const phases = new Set<string>()
  const report = await volunteer.audit(vm.key, { onReplicate: (p) => phases.add(p.phase) })
  t.ok(report.ok, JSON.stringify(report.divergence))
  t.is(report.calls, 20)
  t.ok(phases.has('log') && phases.has('files'), 'shows replication progress')
  t.ok(report.fetched && report.fetched.bulk >= vm.log.length && report.fetched.fallback === null, 'the log and files came in verified bulk stretches: ' + JSON.stringify(report.fetched))
})

test('audit over the swarm: files changed behind the log are caught by a volunteer', async (t) => {
  const net = await testnet(t)
  // A host that served honestly for a while...
  const first = await node(t, net)
  const vm = await first.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 6; i++) await caller.call('RSVP', true, 'n' + i)
  await caller.close()
  // ...then rewrote one file entry in its archive, and serves on. (Reopened, an honest
  // host would refuse that archive: this one runs other code, so the test tampers live.)
  const list = await entries(vm.log)
  const i = list.findIndex((e, k) => k > 3 && e.type === EntryType.CALL)
  const e = list[i]!
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  await renameFileBlock(vm.drive.db.core, e.files.dbLength - 1, '/rsvps/mallory.json')
  const volunteer = await node(t, net)
  const evidenceFile = (await t.tmp()) + '/report.json'
  const report = await volunteer.audit(vm.key, { report: evidenceFile })
  t.is(report.divergence?.class, 'files-tampered')
  t.is(report.divergence?.index, i)

  // A third party, in a fresh process, with nothing but the report.
  const proven = await verifyInProcess(evidenceFile)
  t.is(proven.code, 0)
  t.ok(proven.out.startsWith('fraud proven'), proven.out)
  // Edit the report (say, make the forged block look honest): it no longer verifies.
  const { readFile, writeFile } = await import('node:fs/promises')
  const ev = JSON.parse(await readFile(evidenceFile, 'utf8'))
  ev.db.blocks[e.files.dbLength - 1] = ev.db.blocks[e.files.dbLength - 2]
  await writeFile(evidenceFile, JSON.stringify(ev))
  const edited = await verifyInProcess(evidenceFile)
  t.is(edited.code, 1)
  t.ok(edited.out.startsWith('report invalid'), edited.out)
})

test('evidence: a report about an honest host can never verify', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  t.teardown(() => host.close())
  for (let k = 0; k < 4; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'honest ' + k]))
  for (const cls of ['result-differs', 'files-tampered', 'signature-invalid', 'malformed-entry'] as const) {
    const ev = await makeEvidence(host.logAndFiles(), { index: 3, class: cls, message: 'made up', expected: '', found: '' })
    const verdict = await verifyEvidence(ev, { tmpdir: await t.tmp() })
    t.is(verdict.proven, false, `${cls}: ${verdict.reason}`)
    t.ok(verdict.reason.startsWith('report invalid: '), 'the verdict says so itself')
  }
})

const verifyInProcess = (file: string) => runCli(['verify-report', file])

test('mirror: with the host stopped, clients still dial, read info and files, and volunteers audit from the mirror alone', async (t) => {
  const net = await testnet(t)
  const hostStorage = await t.tmp()
  const hostNode = new VmsNode({ storage: hostStorage, dht: net.createNode() })
  t.teardown(() => hostNode.close()) // (also closed in the test)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const key = vm.key
  const alice = await node(t, net)
  const h = await alice.dial(key)
  await h.call('RSVP', true, 'mirrored')
  const mirrorNode = await node(t, net)
  const m = await mirrorNode.mirror(key)
  // Wait until the mirror holds everything the host has.
  const target = vm.log.length
  await mirrored(m, vm)
  const held = await mirrorProgress(m)
  t.ok(held.held && held.log.total === target && held.files.have === vm.drive.db.core.length, 'the mirror says it holds everything: ' + JSON.stringify(held))
  await h.close()
  await hostNode.close()

  const bob = await node(t, net, { timeoutMs: 2000 })
  const handle = await bob.dial(key)
  const info = await handle.info()
  t.is(info.host, false, 'info comes from a mirror')
  t.is(info.length, target)
  t.alike(await handle.files.readdir('/rsvps'), [alice.identity.id + '.json'])
  t.is(await handle.files.readFile('/rsvps/' + alice.identity.id + '.json', 'utf8'), '{"isAttending":true,"reason":"mirrored"}')
  const err = await handle.call('RSVP', false).catch((e: { code: string; message: string }) => e)
  t.is((err as { code: string }).code, 'HOST_OFFLINE')
  t.ok((err as { message: string }).message.includes('mirror'), 'says the host is offline and mirrors serve files')

  const volunteer = await node(t, net)
  const report = await volunteer.audit(key)
  t.ok(report.ok, 'audited from the mirror alone')
  t.is(report.calls, 1)
  t.ok(report.fetched && report.fetched.bulk >= target && report.fetched.fallback === null, 'the mirror served the blocks in bulk: ' + JSON.stringify(report.fetched))
})

test('mirror: a mirror node remembers what it mirrors across restarts', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vms = await Promise.all(['a', 'b', 'c'].map((name) => hostNode.host(RSVP, { name })))
  const storage = await t.tmp()
  const first = await node(t, net, { storage }) // (also closed in the test)
  for (const vm of vms) await first.mirror(vm.key)
  await first.close()
  const second = await node(t, net, { storage })
  const progress: string[] = []
  const again = await second.mirrorStored({ onProgress: (opened, total) => progress.push(`${opened}/${total}`) })
  t.alike(again.map((m) => m.key), vms.map((v) => v.key), 'all three, in the order they were first mirrored')
  t.alike(progress, ['1/3', '2/3', '3/3'], 'saying how far the reopen got')
})

test('audit --follow: a following volunteer checks each new call and reports a divergence the moment it appears', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  await caller.call('RSVP', true, 'before')
  const volunteer = await node(t, net)
  const verified: number[] = []
  const abort = new AbortController()
  const waiting: Array<[number, () => void]> = []
  const upTo = (n: number) => new Promise<void>((resolve) => waiting.push([n, resolve]))
  const following = volunteer.audit(vm.key, {
    follow: {
      signal: abort.signal,
      onVerified: (length) => {
        verified.push(length)
        for (const [n, resolve] of waiting) if (length >= n) resolve()
      }
    }
  })
  await upTo(3)
  for (let i = 0; i < 5; i++) await caller.call('RSVP', i % 2 === 0, 'while followed ' + i)
  await upTo(8)
  t.ok(verified.length >= 2 && verified[0] === 3, 'verified at the start, then again as new entries came in: ' + verified.join(', '))
  // Now the host logs a call nobody made (a forged caller), mid-run.
  const list = await entries(vm.log)
  const last = list[list.length - 1]!
  if (last.type !== EntryType.CALL) return t.fail('expected a call')
  const forged = { ...last, publicKey: b4a.alloc(32, 7) }
  await vm.log.append(encode(logEntry, forged))
  const report = await following
  t.absent(report.ok)
  t.is(report.divergence?.class, 'signature-invalid')
  t.is(report.divergence?.index, list.length)
  abort.abort()
})

test('durability "mirror": a call is answered only once a mirror holds its entry', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp', durability: 'mirror', durabilityTimeoutMs: 1500 })
  const caller = await (await node(t, net, { timeoutMs: 5000 })).dial(vm.key)
  const alone = await caller.call('RSVP', true, 'no mirror yet').catch((e: { code: string }) => e)
  t.is((alone as { code: string }).code, 'DURABILITY_TIMEOUT', 'without a mirror the host says the call is logged but not yet held elsewhere')
  const mirrorNode = await node(t, net)
  const m = await mirrorNode.mirror(vm.key)
  const { receipt } = await caller.callWithReceipt('RSVP', false, 'mirrored')
  t.ok(m.log.contiguousLength > receipt.index, 'when the answer came, the mirror already held the entry')
})

test('equivocation: a host that truncates what a volunteer verified is caught on the next audit', async (t) => {
  const net = await testnet(t)
  const first = await node(t, net)
  const vm = await first.host(RSVP, { name: 'rsvp' })
  const key = vm.key
  const caller = await (await node(t, net)).dial(key)
  for (let i = 0; i < 4; i++) await caller.call('RSVP', true, 'n' + i)
  await caller.close()
  const volunteer = await node(t, net)
  const before = await volunteer.audit(key)
  t.ok(before.ok)
  const verifiedLength = before.to
  // The host drops the last two calls from its log, and serves on (it runs other code than ours: tampered live).
  await vm.log.truncate(vm.log.length - 2)
  const after = await volunteer.audit(key)
  t.absent(after.ok)
  t.is(after.divergence?.class, 'equivocation')
  t.ok(after.divergence!.message.includes('truncated') || after.divergence!.message.includes('rewritten'), after.divergence!.message)
  t.ok(after.divergence!.expected.includes(`"length":${verifiedLength}`), 'names the head verified before')
})

test('attestations: a caller learns how many distinct auditors vouch for the entry its receipt names', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const callerNode = await node(t, net)
  const caller = await callerNode.dial(vm.key)
  const { receipt } = await caller.callWithReceipt('RSVP', true, 'vouch for me')
  t.is((await caller.vouchers(receipt)).count, 0, 'nobody audited yet')

  const v1 = await node(t, net)
  const v2 = await node(t, net)
  t.ok((await v1.audit(vm.key)).ok)
  t.ok((await v2.audit(vm.key)).ok)
  // A liar attests to a history that is not this log's.
  const liar = await (await node(t, net)).dial(vm.key)
  liar.attest(vm.log.length, b4a.alloc(32, 9))
  await until(() => hostNode.book(vm.key).list().length === 3, 10000, 'the host to hold all three attestations')

  const { count, auditors } = await caller.vouchers(receipt)
  t.is(count, 2, 'two auditors vouch; the liar does not count')
  t.alike(auditors.sort(), [v1.identity.id, v2.identity.id].sort())
  const later = await caller.callWithReceipt('RSVP', false, 'after the audits')
  t.is((await caller.vouchers(later.receipt)).count, 0, 'an entry after what they audited is not vouched for')
})

test('evidence: a forged result and a forged caller are proven from the report alone', async (t) => {
  for (const forge of ['result', 'caller'] as const) {
    const dir = await t.tmp()
    const host = await VmHost.create(dir, { script: RSVP })
    for (let k = 0; k < 3; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'n' + k]))
    await host.call(Identity.generate().sign(host.key, 'list', []))
    const log = host.log
    const i = log.length - 1
    const e = decodeEntry((await log.get(i))!, i)
    if (e.type !== EntryType.CALL) return t.fail('expected a call')
    const forged = forge === 'result' ? { ...e, outcome: { ...e.outcome, value: b4a.from('["nobody.json"]') } } : { ...e, publicKey: b4a.alloc(32, 5) }
    await log.truncate(i)
    await log.append(encode(logEntry, forged))
    const report = await replay(host.logAndFiles(), { checkTrailing: false })
    t.is(report.divergence?.class, forge === 'result' ? 'result-differs' : 'signature-invalid')
    const ev = await makeEvidence(host.logAndFiles(), report.divergence!)
    const verdict = await verifyEvidence(JSON.parse(JSON.stringify(ev)), { tmpdir: await t.tmp() })
    t.ok(verdict.proven, `${forge}: ${verdict.reason}`)
    await host.close()
  }
})

test('equivocation: a host that shows two peers two histories is caught when a mirror meets both', async (t) => {
  const net = await testnet(t)
  // The dishonest host runs the same VM (same keys) twice, with diverging histories.
  const primaryKey = crypto.randomBytes(32)
  const hostA = new VmsNode({ storage: await t.tmp(), dht: net.createNode(), primaryKey })
  const hostB = new VmsNode({ storage: await t.tmp(), dht: net.createNode(), primaryKey })
  t.teardown(() => hostA.close())
  t.teardown(() => hostB.close())
  const vmA = await hostA.host(RSVP, { name: 'rsvp' })
  const vmB = await hostB.host(RSVP, { name: 'rsvp' })
  t.alike(vmA.key, vmB.key, 'one VM key')
  await vmA.call(Identity.generate().sign(vmA.key, 'RSVP', [true, 'told to peer A']))
  await vmB.call(Identity.generate().sign(vmB.key, 'RSVP', [false, 'told to peer B']))
  t.is(vmA.log.length, vmB.log.length, 'same length, different histories')

  const mirrorNode = await node(t, net)
  // Whoever meets both histories first (the mirror, or a host through it) holds the proof.
  const caught = new Promise<{ length: number; proof: unknown; theirs: unknown }>((resolve) => {
    for (const n of [mirrorNode, hostA, hostB]) n.once('equivocation', resolve)
  })
  mirrorNode.mirror(vmA.key).catch(() => {}) // the replica is frozen when the conflict is found
  // Look the topic up again now and then, until the mirror has met both hosts.
  const nudge = setInterval(() => { mirrorNode.swarm.join(vmA.discoveryKey, { client: true, server: true }).refresh().catch(() => {}) }, 1000)
  t.teardown(() => clearInterval(nudge))
  const e = await caught
  clearInterval(nudge)
  t.ok(e.length > 0)
  t.ok(e.proof !== null || e.theirs !== null, 'with the proof: hypercore\'s conflict proof or two signed heads')
})

/**
 * A host that served honestly, then rewrote its cores with `tamper`, and
 * serves on. (An honest host, reopened, refuses storage changed outside its
 * log; this one runs other code: the test tampers with the live cores.)
 */
async function dishonestHost(t: Test, net: Awaited<ReturnType<typeof testnet>>, tamper: (cores: { log: Hypercore; drive: Hyperdrive }) => Promise<number>): Promise<{ key: Buffer; index: number }> {
  const first = await node(t, net)
  const vm = await first.host(RSVP, { name: 'rsvp' })
  const key = vm.key
  for (let k = 0; k < 4; k++) await vm.call(Identity.generate().sign(key, 'RSVP', [k % 2 === 0, 'n' + k]))
  await vm.call(Identity.generate().sign(key, 'list', []))
  const index = await tamper(vm.logAndFiles())
  return { key, index }
}

test('over the swarm: a forged result, a dropped entry and reordered entries are each caught by a volunteer', async (t) => {
  const net = await testnet(t)
  const cases: Array<[string, (cores: { log: Hypercore; drive: Hyperdrive }) => Promise<number>, string[]]> = [
    ['forged result', async ({ log }) => {
      const i = log.length - 1
      const e = decodeEntry((await log.get(i))!, i)
      if (e.type !== EntryType.CALL) throw new Error('expected a call')
      await log.truncate(i)
      await log.append(encode(logEntry, { ...e, outcome: { ...e.outcome, value: b4a.from('["nobody.json"]') } }))
      return i
    }, ['result-differs']],
    ['dropped entry', async ({ log }) => {
      const blocks = await rawEntries(log)
      await log.truncate(3)
      await log.append(blocks.slice(4))
      return 3
    }, ['files-tampered']],
    ['reordered entries', async ({ log }) => {
      const blocks = await rawEntries(log)
      await log.truncate(3)
      await log.append([blocks[4]!, blocks[3]!, ...blocks.slice(5)])
      return 3
    }, ['files-tampered', 'malformed-entry']]
  ]
  for (const [name, tamper, classes] of cases) {
    const { key, index } = await dishonestHost(t, net, tamper)
    const volunteer = await node(t, net)
    const report = await volunteer.audit(key)
    t.ok(report.divergence && classes.includes(report.divergence.class), `${name}: ${report.divergence?.class}`)
    t.is(report.divergence?.index, index, `${name}: at entry ${index}`)
  }
})

test('views: read-only calls answered by the host or by a mirror (host offline), never logged, writes refused', async (t) => {
  const net = await testnet(t)
  const hostNode = new VmsNode({ storage: await t.tmp(), dht: net.createNode() })
  t.teardown(() => hostNode.close()) // (also closed in the test)
  const vm = await hostNode.host(RSVP + `
exports.count = async () => (await System.files.readdir('/rsvps')).length
exports.sneaky = async () => { await System.files.writeFile('/x', 'y'); return 'wrote' }`, { name: 'rsvp' })
  const alice = await node(t, net)
  const h = await alice.dial(vm.key)
  await h.call('RSVP', true, 'yes')
  const before = vm.log.length
  const v = await h.view('count')
  t.is(v.result, 1)
  t.is(v.length, before, 'says which log length it reflects')
  t.is(vm.log.length, before, 'a view is not logged')
  const w = await h.view('sneaky').catch((e: { code: string; remote: { code: string } }) => e)
  t.is((w as { remote: { code: string } }).remote.code, 'EROFS', 'a view that writes is refused')
  t.is(vm.log.length, before)

  const mirrorNode = await node(t, net)
  const m = await mirrorNode.mirror(vm.key)
  await mirrored(m, vm)
  await h.close()
  await hostNode.close()
  const bob = await (await node(t, net, { timeoutMs: 5000 })).dial(vm.key)
  const fromMirror = await bob.view('count')
  t.is(fromMirror.result, 1, 'answered by the mirror from its replica, with the host offline')
  t.is(fromMirror.length, before)
})

test('views: methods the script marks as views are never logged; handle.METHOD() runs them as views', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP + `
exports.count = async () => (await System.files.readdir('/rsvps')).length
exports.count.view = true`, { name: 'rsvp' })
  t.alike(vm.views, ['count'])
  const h = await (await node(t, net)).dial(vm.key)
  await h.RSVP!(true, 'yes')
  const before = vm.log.length
  t.is(await h.count!(), 1, 'handle.count() ran as a view')
  t.is(vm.log.length, before, 'and appended nothing')
  const err = await h.call('count').catch((e: { code: string }) => e)
  t.is((err as { code: string }).code, 'VIEW_METHOD', 'a logged call of a view is refused')
  const fromHost = await h.info()
  t.alike(fromHost.views, ['count'])

  // With the host offline, a client that reaches only a mirror still knows the methods and runs the view there.
  const mirrorNode = await node(t, net)
  await mirrored(await mirrorNode.mirror(vm.key), vm)
  await h.close()
  await hostNode.close()
  const bob = await (await node(t, net, { timeoutMs: 5000 })).dial(vm.key)
  const info = await bob.info()
  t.is(info.host, false, 'only the mirror answers')
  t.alike([info.methods, info.views], [fromHost.methods, ['count']], 'the mirror announces the script\'s methods and views')
  t.is(await mirrorNode.unloadIdle(0), 0, 'describing the script for its hello left no sandbox running on the mirror')
  t.is(await bob.count!(), 1, 'handle.count() ran as a view on the mirror')
  t.is(await mirrorNode.unloadIdle(0), 1, 'the view\'s sandbox stops once idle')
  t.is(await bob.count!(), 1, 'and starts again for the next view')
  const call = await bob.RSVP!(true).catch((e: { code: string }) => e)
  t.is((call as { code: string }).code, 'HOST_OFFLINE', 'a logged call still needs the host')
})

/** Wait until a mirror holds all of a VM's log and files archive, as the host has them. */
async function mirrored(m: { log: Hypercore; drive: Hyperdrive }, vm: { log: Hypercore; drive: Hyperdrive }): Promise<void> {
  const contiguous = (core: Hypercore) => core.contiguousLength
  const [mirrorBlobs, hostBlobs] = [(await m.drive.getBlobs()).core, (await vm.drive.getBlobs()).core]
  await until(() => contiguous(m.log) >= vm.log.length && contiguous(m.drive.db.core) >= vm.drive.db.core.length && contiguous(mirrorBlobs) >= hostBlobs.length, 10000, 'the mirror to hold everything')
}

test('audit: a volunteer keeps the heads it verified, one file per VM; a damaged one is reported, never silently forgotten; an earlier version\'s heads.json is still read', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const hex = b4a.toString(vm.key, 'hex')
  const { readFile, writeFile, rm } = await import('node:fs/promises')
  const storage = await t.tmp()
  const volunteer = await node(t, net, { storage })
  t.ok((await volunteer.audit(vm.key)).ok)
  const head = JSON.parse(await readFile(`${storage}/heads/${hex}.json`, 'utf8')) as { length: number; signer: string; signature: string; verified: number }
  t.is(head.length, vm.log.length, 'the verified head is on disk')
  t.is(head.verified, vm.log.length)
  t.ok(/^[0-9a-f]{64}$/.test(head.signer) && /^[0-9a-f]{128}$/.test(head.signature), 'with the host\'s signature of it')
  await volunteer.close()
  await writeFile(`${storage}/heads/${hex}.json`, '{"trunc')
  const again = await node(t, net, { storage })
  const err = await again.audit(vm.key).catch((e: { code: string; message: string }) => e) as { code: string; message: string }
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(/head this volunteer verified of that VM\) is damaged: repair it, or move it away to forget it \(audit --forget\)/.test(err.message), err.message)
  await again.close()

  // A node of an earlier version kept every VM's head in heads.json: still checked.
  await rm(`${storage}/heads`, { recursive: true })
  await writeFile(`${storage}/heads.json`, JSON.stringify({ [hex]: { length: 2, fork: 0, treeHash: 'ab'.repeat(32), signature: null } }))
  const older = await node(t, net, { storage })
  const report = await older.audit(vm.key)
  t.is(report.divergence?.class, 'equivocation', 'a history that does not extend the head it kept is equivocation')
  t.ok(report.notes.some((n) => n.includes('without its signature')), 'and no evidence can be made of an unsigned head')
  t.ok(await older.forget(vm.key), 'forget drops it')
  t.ok((await older.audit(vm.key)).ok, 'and the next audit starts over')
})

test('parallel audits over the swarm: volunteers audit stretches between checkpoints, the reports combine; only an audit from the genesis attests', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = await node(t, net, { storage })
  const vm = await first.host(RSVP, { name: 'rsvp' })
  let caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 5; i++) await caller.call('RSVP', true, 'before ' + i)
  await caller.close()
  await first.close()
  // The restart logs a load entry (before the first call after it): a checkpoint a second volunteer can start from.
  const again = await node(t, net, { storage })
  const [host] = await again.hostStored()
  const checkpoint = host!.log.length
  caller = await (await node(t, net)).dial(vm.key)
  for (let i = 0; i < 4; i++) await caller.call('RSVP', false, 'after ' + i)
  t.is(decodeEntry((await host!.log.get(checkpoint))!).type, EntryType.LOAD)

  const [a, b] = [await node(t, net), await node(t, net)]
  const early = await a.audit(vm.key, { to: checkpoint })
  const late = await b.audit(vm.key, { from: checkpoint })
  t.ok(early.ok && late.ok, 'each stretch checks out')
  t.is(early.calls + late.calls, 9)
  const whole = combineReports([late, early])
  t.ok(whole.ok && whole.gap === null, 'together they cover the log from the genesis')
  t.is(whole.to, host!.log.length)

  // A third volunteer audits it all; the host then holds attestations from it and from the first, never from the stretch audit.
  const c = await node(t, net)
  t.ok((await c.audit(vm.key)).ok)
  const book = again.book(vm.key)
  await until(() => book.list().length >= 2, 10000, 'two attestations at the host')
  const auditors = book.list().map((x) => formatKey(x.auditor)).sort()
  t.alike(auditors, [a.identity.id, c.identity.id].sort(), 'the stretch audit from a checkpoint vouched for nothing')
})

test('views: a script whose init writes at every load still answers views (what init writes stays in the view\'s isolate), from the host and from a mirror', async (t) => {
  const net = await testnet(t)
  const hostNode = new VmsNode({ storage: await t.tmp(), dht: net.createNode() })
  t.teardown(() => hostNode.close()) // (also closed in the test)
  const vm = await hostNode.host(`exports.init = async () => { await System.files.writeFile('/loads/' + Date.now(), 'loaded') }
exports.add = async (name) => { await System.files.writeFile('/names/' + name, name) }
exports.names = async () => (await System.files.readdir('/names')).length
exports.names.view = true
exports.sneaky = async () => { await System.files.writeFile('/x', 'y') }
exports.sneaky.view = true`, { name: 'loads' })
  const h = await (await node(t, net)).dial(vm.key)
  await h.add!('ada')
  const length = vm.log.length
  t.is(await h.names!(), 1, 'the view runs: init\'s write did not stop the script loading read-only')
  const refused = await h.sneaky!().catch((e: { remote?: { code: string } }) => e) as { remote?: { code: string } }
  t.is(refused.remote?.code, 'EROFS', 'a view\'s own write is still refused')
  t.is(vm.log.length, length, 'nothing logged')
  t.alike((await list(vm.drive, '/loads')).length, 1, 'and nothing written: the archive holds the host\'s one load')

  const mirrorNode = await node(t, net)
  await mirrored(await mirrorNode.mirror(vm.key), vm)
  await h.close()
  await hostNode.close()
  const bob = await (await node(t, net, { timeoutMs: 5000 })).dial(vm.key)
  t.alike((await bob.info()).methods, ['add', 'names', 'sneaky'])
  t.is(await bob.names!(), 1, 'the mirror answers the view too')
})

async function list(drive: Hyperdrive, dir: string): Promise<string[]> {
  const out: string[] = []
  for await (const name of drive.readdir(dir)) out.push(name)
  return out
}

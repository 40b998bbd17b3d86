// Who can lie about what (docs/trust.md): the holes an adversary's review found,
// each over real parts (cores on disk, swarms on a loopback DHT, reports checked
// in a fresh process), and every field a report carries, forged.
import test from 'brittle'
import b4a from 'b4a'
import Corestore from 'corestore'
import { writeFile, readFile, readdir } from 'node:fs/promises'
import { VmHost, Identity, replay, makeEvidence, verifyEvidence, formatKey, VmsError } from '../src/index.js'
import { EntryType, decodeEntry, encode, logEntry } from '../src/messages/index.js'
import { exportSignedCore } from '../src/audit/signed-cores.js'
import { currentHead, headToJson } from '../src/audit/head-book.js'
import { openVmCores, closeVmCores } from '../src/host/vm-storage.js'
import { RSVP, renameFileBlock, until } from './helpers/index.js'
import { runCli } from './helpers/cli.js'
import { testnet, node } from './helpers/net.js'
import type { ReplayEvidence } from '../src/audit/evidence.js'

/** `verify-report FILE` in a fresh process, as anyone would run it. */
async function verifyInProcess(t: { tmp(): Promise<string> }, evidence: unknown): Promise<{ code: number | null; out: string }> {
  const file = (await t.tmp()) + '/report.json'
  await writeFile(file, JSON.stringify(evidence))
  const { code, out } = await runCli(['verify-report', file])
  return { code, out: out.trim() }
}

test('hole 1: a report whose file contents core the auditor made and signed cannot frame an honest host', async (t) => {
  const host = await VmHost.create(await t.tmp(), { script: RSVP })
  t.teardown(() => host.close())
  for (let k = 0; k < 3; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'n' + k]))
  t.ok((await replay(host.logAndFiles())).ok, 'the host is honest: its own storage replays clean')
  // The auditor's own core: the host's file contents, the last file changed, signed with the auditor's key.
  const blobs = (await host.drive.getBlobs()).core
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  const forged = store.get({ name: 'not-the-hosts' })
  await forged.ready()
  for (let i = 0; i < blobs.length; i++) await forged.append(i === blobs.length - 1 ? b4a.from('{"isAttending":false,"reason":"forged"}') : (await blobs.get(i))!)
  const last = host.log.length - 1
  const ev = await makeEvidence(host.logAndFiles(), { index: last, class: 'files-tampered', message: 'the blobs core holds other contents than the entry commits to', expected: '', found: '' })
  ev.blobs = await exportSignedCore(forged)
  const verdict = await verifyEvidence(JSON.parse(JSON.stringify(ev)), { tmpdir: await t.tmp() })
  t.absent(verdict.proven, verdict.reason)
  t.is(verdict.reason, 'report invalid: the blobs core is not the one this VM names')
  const fresh = await verifyInProcess(t, ev)
  t.is(fresh.code, 1, 'verify-report in a fresh process: exit 1')
  t.is(fresh.out, 'report invalid: the blobs core is not the one this VM names')
})

test('reports: every field verify-report takes from a report, forged, makes it invalid (and nothing crashes)', async (t) => {
  // A genuine report first: a host that forged a result.
  const host = await VmHost.create(await t.tmp(), { script: RSVP })
  t.teardown(() => host.close())
  for (let k = 0; k < 3; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'n' + k]))
  await host.call(Identity.generate().sign(host.key, 'list', []))
  const log = host.log
  const i = log.length - 1
  const e = decodeEntry((await log.get(i))!, i)
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  await log.truncate(i)
  await log.append(encode(logEntry, { ...e, outcome: { ...e.outcome, value: b4a.from('["nobody.json"]') } }))
  const report = await replay(host.logAndFiles(), { checkTrailing: false })
  const genuine = JSON.parse(JSON.stringify(await makeEvidence(host.logAndFiles(), report.divergence!))) as ReplayEvidence
  const tmpdir = () => t.tmp()
  t.ok((await verifyEvidence(genuine, { tmpdir: await tmpdir() })).proven, 'the genuine report proves the forged result')

  const other = await VmHost.create(await t.tmp(), { script: RSVP })
  t.teardown(() => other.close())
  await other.call(Identity.generate().sign(other.key, 'RSVP', [true, 'elsewhere']))
  const otherEv = JSON.parse(JSON.stringify(await makeEvidence(other.logAndFiles(), { index: 2, class: 'result-differs', message: '', expected: '', found: '' }))) as ReplayEvidence
  const flip = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1)
  const forgeries: Array<[string, (ev: any) => void]> = [
    ['the report version', (ev) => { ev.version = 3 }],
    ['the VM key: another VM', (ev) => { ev.vmKey = formatKey(other.key) }],
    ['the VM key: not a key', (ev) => { ev.vmKey = 'nope' }],
    ['the divergence: missing', (ev) => { delete ev.divergence }],
    ['the divergence index: another entry', (ev) => { ev.divergence.index = i - 1 }],
    ['the divergence index: past the log', (ev) => { ev.divergence.index = ev.log.length }],
    ['the divergence index: not a number', (ev) => { ev.divergence.index = 'x' }],
    ['the divergence class: another', (ev) => { ev.divergence.class = 'files-tampered' }],
    ['the divergence class: not a replay\'s', (ev) => { ev.divergence.class = 'equivocation' }],
    ['the checkpoint: 0', (ev) => { ev.checkpoint = 0 }],
    ['the checkpoint: after the entry', (ev) => { ev.checkpoint = i + 1 }],
    ['the checkpoint: a call entry', (ev) => { ev.checkpoint = 2 }],
    ['the checkpoint: not a number', (ev) => { ev.checkpoint = '1' }],
    ['the log: another VM\'s', (ev) => { ev.log = otherEv.log }],
    ['the log key', (ev) => { ev.log.key = flip(ev.log.key) }],
    ['the log manifest', (ev) => { ev.log.manifest = otherEv.log.manifest }],
    ['the log manifest: not hex', (ev) => { ev.log.manifest = 'zz' }],
    ['the log length', (ev) => { ev.log.length += 1 }],
    ['the log fork', (ev) => { ev.log.fork += 1 }],
    ['the log signature', (ev) => { ev.log.signature = flip(ev.log.signature) }],
    ['a log block', (ev) => { ev.log.blocks[1] = ev.log.blocks[2] }],
    ['the log blocks: one missing', (ev) => { ev.log.blocks.pop() }],
    ['the log blocks: not a list', (ev) => { ev.log.blocks = 'abc' }],
    ['the files core: another VM\'s', (ev) => { ev.db = otherEv.db }],
    ['the files core key', (ev) => { ev.db.key = flip(ev.db.key) }],
    ['the files core manifest', (ev) => { ev.db.manifest = otherEv.db.manifest }],
    ['the files core signature', (ev) => { ev.db.signature = flip(ev.db.signature) }],
    ['a files core block', (ev) => { ev.db.blocks[2] = ev.db.blocks[1] }],
    ['the files core length', (ev) => { ev.db.length -= 1 }],
    ['the contents core: another VM\'s', (ev) => { ev.blobs = otherEv.blobs }],
    ['the contents core key', (ev) => { ev.blobs.key = flip(ev.blobs.key) }],
    ['the contents core signature', (ev) => { ev.blobs.signature = flip(ev.blobs.signature) }],
    ['a contents core block', (ev) => { ev.blobs.blocks[0] = ev.blobs.blocks[0].slice(2) }],
    ['the contents core: missing', (ev) => { delete ev.blobs }]
  ]
  for (const [what, forge] of forgeries) {
    const ev = JSON.parse(JSON.stringify(genuine))
    forge(ev)
    const verdict = await verifyEvidence(ev, { tmpdir: await tmpdir() }).catch((err: Error) => ({ proven: true, reason: 'threw: ' + err.message }))
    t.ok(!verdict.proven && verdict.reason.startsWith('report invalid: '), `${what}: ${verdict.reason}`)
  }
})

test('hole 2: files added to the archive outside the log: clients never read them, and a fresh volunteer proves them with the host\'s own statement', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const callerNode = await node(t, net)
  const caller = await callerNode.dial(vm.key)
  await caller.call('RSVP', true, 'logged')
  // The host adds a file no entry accounts for, and serves on.
  await vm.drive.put('/rsvps/unlogged.json', b4a.from('{"isAttending":true,"reason":"never logged"}'))
  t.ok(await vm.drive.get('/rsvps/unlogged.json'), 'the host\'s archive has it')
  const names = await caller.files.readdir('/rsvps')
  t.alike(names, [callerNode.identity.id + '.json'], 'a client reads the archive as the log\'s last entry commits to it: not that file')
  const missing = await caller.files.readFile('/rsvps/unlogged.json').catch((e: VmsError) => e)
  t.is((missing as VmsError).code, 'NOT_FOUND')

  const volunteer = await node(t, net)
  const reportFile = (await t.tmp()) + '/report.json'
  const report = await volunteer.audit(vm.key, { report: reportFile })
  t.is(report.divergence?.class, 'files-unlogged', report.divergence?.message ?? JSON.stringify(report.notes))
  t.is(report.divergence?.index, vm.log.length, 'after the last entry')
  t.ok(/fewer than it had signed/.test(report.divergence!.message), report.divergence!.message)
  const { code, out } = await runCli(['verify-report', reportFile])
  t.is(code, 0, 'verify-report in a fresh process: exit 0')
  t.ok(out.startsWith('fraud proven: '), out)
  // The report with the host's statement taken away, or edited, proves nothing.
  const ev = JSON.parse(await readFile(reportFile, 'utf8'))
  for (const [what, forge] of [
    ['no statement', (e: any) => { e.statement = '' }],
    ['the statement\'s signature', (e: any) => { e.statement = e.statement.slice(0, -2) + (e.statement.endsWith('00') ? '01' : '00') }],
    ['another request (a nonce the host did not sign)', (e: any) => { e.request = 'ff' + e.request.slice(2) }],
    ['an older archive than the request names', (e: any) => { e.db.blocks.pop(); e.db.length-- }]
  ] as Array<[string, (e: any) => void]>) {
    const forged = JSON.parse(JSON.stringify(ev))
    forge(forged)
    const verdict = await verifyEvidence(forged, { tmpdir: await t.tmp() })
    t.ok(!verdict.proven && verdict.reason.startsWith('report invalid'), `${what}: ${verdict.reason}`)
  }
})

test('files past the log: an honest host under load never looks like it to a follower, and a report pairing an old log with a newer archive proves nothing', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const volunteer = await node(t, net)
  const stop = new AbortController()
  let verified = 0
  const following = volunteer.audit(vm.key, { follow: { signal: stop.signal, onVerified: (n) => { verified = n } } })
  const callers = await Promise.all([0, 1, 2].map(async () => (await node(t, net)).dial(vm.key)))
  // Calls in bursts for a few seconds: commits in flight all the while, and quiet moments between.
  const end = Date.now() + 5000
  let calls = 0
  while (Date.now() < end) {
    await Promise.all(callers.map((c) => c.call('RSVP', calls % 2 === 0, 'burst ' + calls++)))
    if (calls % 9 === 0) await new Promise((r) => setTimeout(r, 300))
  }
  await until(() => verified === vm.log.length, 15000, 'the follower to catch up')
  await new Promise((r) => setTimeout(r, 3000)) // caught up and idle: it looks at the archive now
  stop.abort()
  const report = await following
  t.ok(report.ok, `the follower verified ${calls} calls and flagged nothing: ${report.divergence?.message ?? ''}`)

  // An old log (length L) and the archive signed later: every entry up to L is still a prefix of it.
  const oldLog = await exportSignedCore(vm.log)
  await callers[0]!.call('RSVP', true, 'later')
  const later = await makeEvidence(vm.logAndFiles(), { index: oldLog.length - 1, class: 'files-tampered', message: '', expected: '', found: '' })
  const paired = { ...later, log: oldLog }
  const verdict = await verifyEvidence(JSON.parse(JSON.stringify(paired)), { tmpdir: await t.tmp() })
  t.ok(!verdict.proven && verdict.reason.startsWith('report invalid'), verdict.reason)
  for (const c of callers) await c.close()
})

test('files past the log: a follower reports them once they stay there (the host\'s statement), and stops', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  await caller.call('RSVP', true, 'logged')
  const volunteer = await node(t, net)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  let verified = 0
  const following = volunteer.audit(vm.key, { follow: { signal: stop.signal, onVerified: (n) => { verified = n } } })
  await until(() => verified === vm.log.length, 10000, 'the follower to catch up')
  await vm.drive.put('/rsvps/unlogged.json', b4a.from('{}'))
  const report = await following
  t.is(report.divergence?.class, 'files-unlogged', report.divergence?.message ?? 'no divergence')
})

test('hole 3: a CLI volunteer remembers what it verified: a host that drops its last call is caught as equivocation, proven in a fresh process; --forget starts over', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const caller = await (await node(t, net)).dial(vm.key)
  for (let k = 0; k < 3; k++) await caller.call('RSVP', true, 'n' + k)
  const home = await t.tmp()
  const env = { VMS_HOME: home, VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const key = formatKey(vm.key)
  const first = await runCli(['audit', key], { env })
  t.is(first.code, 0, first.out + first.err)
  t.ok(first.out.startsWith('verified: entries 1–4'), first.out)
  t.alike(await readdir(home + '/heads'), [b4a.toString(vm.key, 'hex') + '.json'], 'the head it verified is kept under $VMS_HOME/heads')
  // The host drops its last call (log and files) and serves on: what remains replays clean.
  const last = decodeEntry((await vm.log.get(vm.log.length - 2))!, vm.log.length - 2)
  await vm.log.truncate(vm.log.length - 1)
  await vm.drive.db.core.truncate(last.files.dbLength)
  await (await vm.drive.getBlobs()).core.truncate(last.files.blobsLength)
  const reportFile = home + '/report.json'
  const second = await runCli(['audit', key, '--report', reportFile], { env })
  t.is(second.code, 1, 'exit 1: a divergence')
  t.ok(second.out.startsWith('DIVERGENCE (equivocation) the log was truncated: it had 5 entries'), second.out)
  const verdict = await runCli(['verify-report', reportFile], { env })
  t.is(verdict.code, 0, verdict.out)
  t.ok(verdict.out.startsWith('fraud proven: the host signed its log at length 5'), verdict.out)
  const again = await runCli(['audit', key, '--forget'], { env })
  t.is(again.code, 0, 'after --forget it starts over')
  t.ok(again.err.includes('forgot the head verified of this VM before'), again.err)
  await caller.close()
})

test('hole 4: a VM whose archive was changed outside its log is not served; the rest of the node serves on', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const logs: string[] = []
  const first = await node(t, net, { storage })
  const rsvp = await first.host(RSVP, { name: 'rsvp' })
  const other = await first.host(RSVP, { name: 'other' })
  for (const vm of [rsvp, other]) {
    await vm.call(Identity.generate().sign(vm.key, 'RSVP', [true, 'one']))
    await vm.call(Identity.generate().sign(vm.key, 'RSVP', [false, 'two']))
  }
  const keys = { rsvp: rsvp.key, other: other.key }
  await first.close()
  const store = new Corestore(storage)
  const cores = await openVmCores(store.namespace('vm/rsvp'))
  await renameFileBlock(cores.drive.db.core, cores.drive.db.core.length - 1, '/rsvps/forged.json')
  await closeVmCores(cores)
  await store.close()
  const again = await node(t, net, { storage, onLog: (vm, level, message) => logs.push(`${vm} ${level}: ${message}`) })
  const hosted = await again.hostStored()
  t.is(hosted.length, 1, 'one VM serves')
  t.alike(hosted[0]!.key, keys.other)
  t.is(again.unserved.length, 1)
  t.is(again.unserved[0]!.name, 'rsvp')
  t.is(again.unserved[0]!.error.code, 'STORAGE_INVALID')
  t.ok(/its hyperbee's tree hash is .*, the entry says .*restore its storage from a mirror/i.test(again.unserved[0]!.error.message), again.unserved[0]!.error.message)
  t.ok(logs.some((l) => l.startsWith('rsvp error: not served: STORAGE_INVALID')), 'the operator\'s log says so')
  const caller = await (await node(t, net)).dial(keys.other)
  t.alike(await caller.call('list'), (await caller.files.readdir('/rsvps')).sort(), 'the other VM answers calls')
  await caller.close()
})

test('a mirror remembers the host\'s signed head: a host that truncates its log is caught, with evidence anyone can check', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  for (let k = 0; k < 3; k++) await vm.call(Identity.generate().sign(vm.key, 'RSVP', [true, 'n' + k]))
  const mirrorNode = await node(t, net)
  const m = await mirrorNode.mirror(vm.key)
  await until(() => m.log.contiguousLength === vm.log.length, 10000, 'the mirror to hold the log')
  const caught = new Promise<{ length: number; ours: unknown }>((resolve) => mirrorNode.once('equivocation', resolve))
  const length = vm.log.length
  await vm.log.truncate(length - 1)
  await vm.call(Identity.generate().sign(vm.key, 'list', [])).catch(() => {}) // (the honest code stops: its log moved under it)
  const e = await caught as { length: number; ours: import('../src/messages/wire.js').SignedHead | null; vmKey: Uint8Array }
  t.ok(e.ours && e.ours.length === length, 'with the head signed before')
  const { makeEquivocationEvidence } = await import('../src/audit/evidence.js')
  const ev = await makeEquivocationEvidence(m.log, e.ours!, { index: e.length, class: 'equivocation', message: '', expected: '', found: '' })
  const { code, out } = await verifyInProcess(t, ev)
  t.is(code, 0, out)
  t.ok(out.startsWith('fraud proven: the host signed its log at length ' + length), out)
})

test('equivocation reports: an older copy of the log with a newer signed head proves nothing; forged heads are invalid', async (t) => {
  const host = await VmHost.create(await t.tmp(), { script: RSVP })
  t.teardown(() => host.close())
  for (let k = 0; k < 3; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'n' + k]))
  const older = await exportSignedCore(host.log)
  await host.call(Identity.generate().sign(host.key, 'RSVP', [false, 'later']))
  const newer = (await currentHead(host.log))!
  const framing = { version: 2, kind: 'equivocation', vmKey: formatKey(host.key), divergence: { index: older.length, class: 'equivocation', message: '', expected: '', found: '' }, before: headToJson(newer), log: older }
  const verdict = await verifyEvidence(JSON.parse(JSON.stringify(framing)), { tmpdir: await t.tmp() })
  t.ok(!verdict.proven && verdict.reason.startsWith('report invalid: the report\'s log'), verdict.reason)
  const honest = { ...framing, before: headToJson({ ...newer, length: older.length, treeHash: await host.log.treeHash(older.length) }), log: await exportSignedCore(host.log) }
  // (that head is not signed: an honest host signed its log at the group's end only)
  for (const [what, ev] of [
    ['a head the host never signed', honest],
    ['a head with another signer', { ...framing, before: { ...headToJson(newer), signer: 'ab'.repeat(32) } }],
    ['a head whose signature is flipped', { ...framing, before: { ...headToJson(newer), signature: '00' + headToJson(newer).signature!.slice(2) } }],
    ['a head with its length changed', { ...framing, before: { ...headToJson(newer), length: newer.length + 1 } }],
    ['no head', { ...framing, before: null }],
    ['the log as it is (it extends the head)', { ...framing, log: await exportSignedCore(host.log) }]
  ] as Array<[string, unknown]>) {
    const v = await verifyEvidence(JSON.parse(JSON.stringify(ev)), { tmpdir: await t.tmp() })
    t.ok(!v.proven && v.reason.startsWith('report invalid'), `${what}: ${v.reason}`)
  }
})

test('a client never reads an archive its log does not commit to: FILES_TAMPERED', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  for (let k = 0; k < 2; k++) await vm.call(Identity.generate().sign(vm.key, 'RSVP', [true, 'n' + k]))
  // The host rewrites its last file entry (same length, other contents) and serves on.
  await renameFileBlock(vm.drive.db.core, vm.drive.db.core.length - 1, '/rsvps/forged.json')
  const caller = await (await node(t, net)).dial(vm.key)
  const err = await caller.files.readdir('/rsvps').catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'FILES_TAMPERED', err.message)
  t.ok(/not what its log commits to .*audit it/.test(err.message), err.message)
  await caller.close()
})

test('a host that answers an error for a call it logged as a success is caught by the caller: BAD_RECEIPT', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  // The host runs and logs the call, then answers the caller that it failed.
  const call = vm.call.bind(vm)
  vm.call = async (c) => {
    const answer = await call(c)
    throw Object.assign(new VmsError('CALL_FAILED', 'RSVP failed: Error: nope'), { receipt: answer.receipt })
  }
  const caller = await (await node(t, net)).dial(vm.key)
  const err = await caller.call('RSVP', true, 'yes').catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'BAD_RECEIPT', err.message)
  t.ok(/answered CALL_FAILED, but it logged a success/.test(err.message), err.message)
  await caller.close()
})

test('reports: an older signed head of the files archive (shorter than the claimed entry commits to) cannot frame an honest host', async (t) => {
  const host = await VmHost.create(await t.tmp(), { script: RSVP })
  t.teardown(() => host.close())
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'early']))
  const oldDb = await exportSignedCore(host.drive.db.core)
  const oldBlobs = await exportSignedCore((await host.drive.getBlobs()).core)
  for (let k = 0; k < 2; k++) await host.call(Identity.generate().sign(host.key, 'RSVP', [false, 'later ' + k]))
  const last = host.log.length - 1
  const ev = await makeEvidence(host.logAndFiles(), { index: last, class: 'files-tampered', message: '', expected: '', found: '' })
  for (const [what, forged] of [['an older hyperbee', { ...ev, db: oldDb }], ['an older contents core', { ...ev, blobs: oldBlobs }]] as Array<[string, unknown]>) {
    const verdict = await verifyEvidence(JSON.parse(JSON.stringify(forged)), { tmpdir: await t.tmp() })
    t.ok(!verdict.proven && /shorter than entry \d+ commits to/.test(verdict.reason), `${what}: ${verdict.reason}`)
  }
})

// Scripts that can change: signed upgrades with migrations, pinned calls, and replays across versions.
import test from 'brittle'
import b4a from 'b4a'
import { VmHost, Identity, replay, checkpoints, makeEvidence, verifyEvidence, EntryType, VmsError, type CallAnswer } from '../src/index.js'
import crypto from 'hypercore-crypto'
import { decodeEntry, encode, logEntry, scriptHash, upgradeSignable, callSignable, type UpgradeEntry, type CallEntry } from '../src/messages/index.js'
import { entries } from './helpers/index.js'

const V1 = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (yes) => { await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ yes })) }
`
// Version 2 adds a method, and migrates every answer to a new shape.
const V2 = V1 + `
exports.count = async () => (await System.files.readdir('/rsvps')).length
exports.migrate = async (from) => {
  for (const name of await System.files.readdir('/rsvps')) {
    const old = JSON.parse(await System.files.readFile('/rsvps/' + name))
    await System.files.writeFile('/rsvps/' + name, JSON.stringify({ attending: old.yes, from }))
  }
}
`
// Version 3 drops RSVP (the guest list is closed) and keeps count.
const V3 = `
exports.count = async () => (await System.files.readdir('/rsvps')).length
exports.closed = () => true
`

async function upgradable(t: { tmp(): Promise<string>; teardown(fn: () => unknown): void }) {
  const owner = Identity.generate()
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: V1, owners: [owner.id] })
  t.teardown(() => host.close())
  return { host, owner, dir }
}

const call = (host: VmHost, who: Identity, method: string, ...args: unknown[]): Promise<CallAnswer> => host.call(who.sign(host.key, method, args))

test('upgrade: an owner adds a method and migrates the files; calls after it run on version 2; it all replays clean', async (t) => {
  const { host, owner } = await upgradable(t)
  const alice = Identity.generate()
  const bob = Identity.generate()
  await call(host, alice, 'RSVP', true)
  await call(host, bob, 'RSVP', false)
  t.is(host.script.version, 1)
  t.alike(host.owners.map((o) => b4a.toString(o, 'hex')), [b4a.toString(owner.publicKey, 'hex')], 'the genesis names the owner')
  const up = await host.upgrade(owner.signUpgrade(host.key, V2, { filename: 'rsvp-v2.js' }))
  t.is(up.version, 2)
  t.alike(up.hash, scriptHash(V2))
  t.alike(up.added, ['count'])
  t.alike(up.removed, [])
  t.is(host.script.version, 2)
  t.is(host.script.filename, 'rsvp-v2.js')
  t.alike(host.methods, ['RSVP', 'count'])
  t.is((await call(host, alice, 'count')).result, 2, 'the new method answers')
  t.alike(JSON.parse(b4a.toString((await host.drive.get('/rsvps/' + alice.id + '.json'))!)), { attending: true, from: 1 }, 'migrate(1) ran once, with write access')
  await call(host, Identity.generate(), 'RSVP', true)
  t.alike(JSON.parse(b4a.toString((await host.drive.get('/rsvps/' + alice.id + '.json'))!)), { attending: true, from: 1 }, 'and not again')
  const e = decodeEntry((await host.log.get(up.index))!, up.index)
  t.ok(e.type === EntryType.UPGRADE && e.version === 2 && e.previous === 0 && e.script === V2, 'the upgrade entry holds the new source')
  const report = await replay(host.logAndFiles())
  t.ok(report.ok, report.divergence?.message ?? 'replays clean across the upgrade')
  t.ok(report.notes.some((n) => n.includes(`entry ${up.index}: upgraded to version 2`)))
})

test('upgrade: refused from a non-owner, for an immutable VM, with a bad signature or a reused nonce; never logged', async (t) => {
  const { host, owner } = await upgradable(t)
  const length = host.log.length
  const stranger = Identity.generate()
  const err = await host.upgrade(stranger.signUpgrade(host.key, V2)).catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'NOT_ALLOWED')
  t.ok(err.message.includes('is not an owner of VM'), err.message)
  const forged = { ...owner.signUpgrade(host.key, V2), script: V3 } // signed for V2's hash
  t.is((await host.upgrade(forged).catch((e: VmsError) => e) as VmsError).code, 'BAD_SIGNATURE')
  const signed = owner.signUpgrade(host.key, V2)
  await host.upgrade(signed)
  // The owner's own signature over V3, with the nonce already used: a replayed nonce.
  const reused = { ...signed, script: V3, signature: crypto.sign(upgradeSignable(host.key, scriptHash(V3), signed.nonce, signed.filename), owner.secretKey) }
  t.is((await host.upgrade(reused).catch((e: VmsError) => e) as VmsError).code, 'BAD_NONCE', 'a nonce used before')
  t.is((await host.upgrade(signed).catch((e: VmsError) => e) as VmsError).code, 'UPGRADE_FAILED', 'the same script again')
  t.is(host.log.length, length + 1, 'only the good upgrade is logged')

  const immutable = await VmHost.create(await t.tmp(), { script: V1 })
  t.teardown(() => immutable.close())
  t.is(immutable.owners.length, 0, 'VmHost.create without owners: immutable')
  const no = await immutable.upgrade(owner.signUpgrade(immutable.key, V2)).catch((e: VmsError) => e) as VmsError
  t.is(no.code, 'NOT_ALLOWED')
  t.ok(no.message.includes('is immutable'), no.message)
  t.is(immutable.log.length, 2)
})

test('upgrade: a script that does not compile, or whose migrate fails, is refused and never logged; version 1 serves on, nothing changed', async (t) => {
  const { host, owner } = await upgradable(t)
  const alice = Identity.generate()
  await call(host, alice, 'RSVP', true)
  const length = host.log.length
  const files = host.drive.db.core.length
  for (const [script, why] of [
    ['exports.RSVP = (', /does not compile/],
    [V2.replace('const old = JSON.parse', 'throw new Error("cannot migrate"); const old = JSON.parse'), /failed to load \(init or migrate\): Error: cannot migrate/],
    ['exports.init = async () => { throw new Error("no") }\nexports.x = () => 1', /failed to load \(init or migrate\): Error: no/],
    ['exports.migrate = async () => {}', /exports no methods/]
  ] as Array<[string, RegExp]>) {
    const err = await host.upgrade(owner.signUpgrade(host.key, script)).catch((e: VmsError) => e) as VmsError
    t.is(err.code, 'UPGRADE_FAILED')
    t.ok(why.test(err.message) && err.message.endsWith('version 1 serves on, nothing changed'), err.message)
  }
  t.is(host.log.length, length, 'nothing logged')
  t.is(host.drive.db.core.length, files, 'no file changed')
  t.is(host.script.version, 1)
  await call(host, alice, 'RSVP', false)
  t.alike(JSON.parse(b4a.toString((await host.drive.get('/rsvps/' + alice.id + '.json'))!)), { yes: false }, 'version 1 answers')
  t.ok((await replay(host.logAndFiles())).ok)
})

test('pinned calls: one signed for an old version is refused with SCRIPT_CHANGED (the new version named) and never logged; pinned to the version in force, or unpinned, it runs', async (t) => {
  const { host, owner } = await upgradable(t)
  const alice = Identity.generate()
  const v1 = host.script.hash
  t.ok((await host.call(alice.sign(host.key, 'RSVP', [true], { scriptHash: v1 }))).receipt, 'pinned to version 1 while in force: runs')
  await host.upgrade(owner.signUpgrade(host.key, V2))
  const length = host.log.length
  const err = await host.call(alice.sign(host.key, 'RSVP', [false], { scriptHash: v1 })).catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'SCRIPT_CHANGED')
  const [hash, version, methods] = err.remote!.message.split(' ')
  t.is(hash, b4a.toString(scriptHash(V2), 'hex'))
  t.is(version, '2')
  t.alike(methods!.split(','), ['RSVP', 'count'])
  t.is(host.log.length, length, 'not logged')
  t.is((await host.call(alice.sign(host.key, 'count', [], { scriptHash: scriptHash(V2) }))).result, 1, 'pinned to version 2: runs')
  t.is((await call(host, alice, 'count')).result, 1, 'unpinned: runs on the version in force')
  // Pinned calls queued behind an upgrade are refused, not run on a script they were not signed for.
  const before = host.call(alice.sign(host.key, 'count', [], { scriptHash: scriptHash(V2) }))
  const up = host.upgrade(owner.signUpgrade(host.key, V3))
  const after = host.call(alice.sign(host.key, 'count', [], { scriptHash: scriptHash(V2) })).catch((e: VmsError) => e)
  t.is((await before).result, 1, 'admitted before the upgrade: runs on version 2')
  t.is((await up).version, 3)
  t.is((await after as VmsError).code, 'SCRIPT_CHANGED', 'admitted after it: refused')
  const report = await replay(host.logAndFiles())
  t.ok(report.ok, report.divergence?.message ?? 'pinned calls replay clean')
})

test('upgrade: two upgrades are audited clean from the genesis and from a checkpoint in each version; a restart serves the version in force', async (t) => {
  const { host, owner, dir } = await upgradable(t)
  const alice = Identity.generate()
  await call(host, alice, 'RSVP', true)
  await host.upgrade(owner.signUpgrade(host.key, V2))
  await call(host, Identity.generate(), 'RSVP', false)
  await host.close()
  // A restart in version 2: a load entry (a checkpoint) that loads version 2.
  let again = await VmHost.open(dir)
  t.is(again.script.version, 2, 'reopened, version 2 serves')
  t.alike(again.methods, ['RSVP', 'count'])
  t.is((await call(again, alice, 'count')).result, 2)
  await again.upgrade(owner.signUpgrade(again.key, V3))
  t.is((await call(again, alice, 'count')).result, 2)
  t.is((await again.call(alice.sign(again.key, 'RSVP', [true])).catch((e: VmsError) => e) as VmsError).code, 'UNKNOWN_METHOD', 'a removed method is gone')
  await again.close()
  again = await VmHost.open(dir)
  t.teardown(() => again.close())
  t.is(again.script.version, 3)
  t.is(again.script.index > 0, true)
  const marks = await checkpoints(again.log)
  const kinds = await Promise.all(marks.map(async (i) => decodeEntry((await again.log.get(i))!, i).type))
  t.ok(kinds.includes(EntryType.UPGRADE) && kinds.includes(EntryType.LOAD), 'upgrades are checkpoints too')
  const full = await replay(again.logAndFiles())
  t.ok(full.ok, full.divergence?.message ?? 'from the genesis')
  for (const from of marks) {
    const r = await replay(again.logAndFiles(), { from })
    t.ok(r.ok, `from checkpoint ${from}: ${r.divergence?.message ?? r.inconclusive ?? 'clean'}`)
  }
})

test('upgrade: a tampered upgrade is caught, and proven from the report alone (bad owner signature, source not its hash, an upgrade of an immutable VM, a skipped version)', async (t) => {
  const cases: Array<[string, (e: UpgradeEntry) => UpgradeEntry, string, RegExp]> = [
    ['a bad owner signature', (e) => ({ ...e, signature: b4a.alloc(64, 7) }), 'signature-invalid', /signature does not match the upgrade/],
    ['source that does not match its hash', (e) => ({ ...e, script: e.script + '\n// changed' }), 'signature-invalid', /signature does not match the upgrade/],
    ['an owner the genesis does not name', (e) => ({ ...e, owner: Identity.generate().publicKey }), 'signature-invalid', /not name as an owner/],
    ['a skipped version', (e) => ({ ...e, version: 3 }), 'malformed-entry', /does not follow the version in force/],
    ['a file name the owner did not sign', (e) => ({ ...e, filename: 'not-what-the-owner-said.js' }), 'signature-invalid', /signature does not match the upgrade/]
  ]
  for (const [what, forge, cls, message] of cases) {
    const { host, owner } = await upgradable(t)
    await call(host, Identity.generate(), 'RSVP', true)
    const up = await host.upgrade(owner.signUpgrade(host.key, V2))
    const e = decodeEntry((await host.log.get(up.index))!, up.index) as UpgradeEntry
    const rest = []
    for (let i = up.index + 1; i < host.log.length; i++) rest.push((await host.log.get(i))!)
    await host.log.truncate(up.index)
    await host.log.append([encode(logEntry, forge(e)), ...rest])
    const report = await replay(host.logAndFiles(), { checkTrailing: false })
    t.is(report.divergence?.class, cls, `${what}: ${report.divergence?.message}`)
    t.is(report.divergence?.index, up.index)
    t.ok(message.test(report.divergence?.message ?? ''))
    const verdict = await verifyEvidence(JSON.parse(JSON.stringify(await makeEvidence(host.logAndFiles(), report.divergence!))), { tmpdir: await t.tmp() })
    t.ok(verdict.proven, `${what}: ${verdict.reason}`)
  }
  // An immutable VM with an upgrade entry in its log.
  const host = await VmHost.create(await t.tmp(), { script: V1 })
  t.teardown(() => host.close())
  const owner = Identity.generate()
  const signed = owner.signUpgrade(host.key, V2)
  const last = (await entries(host.log)).at(-1)!
  const forged: UpgradeEntry = { type: EntryType.UPGRADE, version: 2, previous: 0, owner: owner.publicKey, signature: signed.signature, nonce: signed.nonce, filename: 'v2.js', script: V2, time: last.type === EntryType.GENESIS ? 0 : last.time, seed: b4a.alloc(16), outcome: { ok: true, limit: false, value: b4a.alloc(0), error: null }, files: last.files }
  await host.log.append(encode(logEntry, forged))
  const report = await replay(host.logAndFiles(), { checkTrailing: false })
  t.is(report.divergence?.class, 'malformed-entry')
  t.ok(/upgrade of an immutable VM/.test(report.divergence!.message), report.divergence!.message)
  t.ok((await verifyEvidence(JSON.parse(JSON.stringify(await makeEvidence(host.logAndFiles(), report.divergence!))), { tmpdir: await t.tmp() })).proven, 'proven')

  // A call signed (validly) for version 1, run by the host on version 2.
  {
    const { host, owner } = await upgradable(t)
    const alice = Identity.generate()
    await host.upgrade(owner.signUpgrade(host.key, V2))
    const { receipt } = await host.call(alice.sign(host.key, 'RSVP', [true], { scriptHash: scriptHash(V2) }))
    const e = decodeEntry((await host.log.get(receipt.index))!, receipt.index) as CallEntry
    const v1 = scriptHash(V1)
    const forged: CallEntry = { ...e, scriptHash: v1, signature: crypto.sign(callSignable(host.key, e.method, e.args, e.nonce, v1), alice.secretKey) }
    await host.log.truncate(receipt.index)
    await host.log.append(encode(logEntry, forged))
    const report = await replay(host.logAndFiles(), { checkTrailing: false })
    t.is(report.divergence?.index, receipt.index)
    t.ok(/a call signed for another script version was run on this one/.test(report.divergence?.message ?? ''), report.divergence?.message)
    t.ok((await verifyEvidence(JSON.parse(JSON.stringify(await makeEvidence(host.logAndFiles(), report.divergence!))), { tmpdir: await t.tmp() })).proven, 'a pinned call run on another version: proven')
  }
})

test('upgrade, crash: the log append of an upgrade lost after its files were written is finished at restart (the new version in force); a kept pointer at no upgrade falls back to reading the log', async (t) => {
  const { host, owner, dir } = await upgradable(t)
  await call(host, Identity.generate(), 'RSVP', true)
  const log = host.log as unknown as { append: unknown }
  log.append = () => Promise.reject(new Error('I/O error'))
  const err = await host.upgrade(owner.signUpgrade(host.key, V2)).catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'STORAGE_FAILED')
  t.ok(/the upgrade to version 2 ran, but its log entry could not be written .*logs it as entry \d+/.test(err.message), err.message)
  delete log.append
  await host.close()
  let again = await VmHost.open(dir)
  t.is(again.script.version, 2, 'the journaled upgrade is in force after the restart')
  t.ok((await replay(again.logAndFiles())).ok)
  // The pointer to the upgrade in force, pointed elsewhere (as an upgrade that never reached the journal leaves it).
  const at = b4a.alloc(4)
  at.writeUInt32LE(1, 0)
  await again.log.setUserData('vms-script', at)
  await again.close()
  again = await VmHost.open(dir)
  t.teardown(() => again.close())
  t.is(again.script.version, 2, 'found by reading the log back')
})

/** Run the upgrading host (fixtures/upgrading-host.ts) and kill -9 it at the line `at` matches. */
async function upgradeAndKill(dir: string, owner: Identity, at: RegExp): Promise<{ before: number; lines: string[] }> {
  const { spawn } = await import('node:child_process')
  const { onLines } = await import('./helpers/cli.js')
  const child = spawn(process.execPath, [new URL('./fixtures/upgrading-host.js', import.meta.url).pathname, dir, b4a.toString(owner.secretKey.subarray(0, 32), 'hex')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`the upgrading host exited (${code}) before "${at.source}": ${lines.join(' | ')}`)))
    onLines(child.stdout!, (line) => {
      lines.push(line)
      if (!at.test(line)) return
      child.removeAllListeners('exit')
      child.on('exit', () => resolve())
      child.kill('SIGKILL')
    })
  })
  return { before: Number(lines.find((l) => l.startsWith('before '))!.slice(7)), lines }
}

test('upgrade, kill -9: during migrate, the old version serves with nothing changed; once answered, the new one is fully in place', async (t) => {
  const owner = Identity.generate()
  // Killed while migrate runs: nothing of the upgrade reached the disk.
  const during = await t.tmp()
  const { before } = await upgradeAndKill(during, owner, /^log migrating$/)
  let host = await VmHost.open(during)
  t.is(host.script.version, 1, 'version 1 in force')
  t.is(host.log.length, before + 1, 'the log holds what it held, and the restart\'s load entry')
  t.is(await host.drive.entry('/migrated'), null, 'nothing migrate wrote')
  t.alike(host.methods, ['RSVP', 'list'])
  t.ok((await replay(host.logAndFiles())).ok, 'it replays clean')
  await host.close()

  // Killed once the upgrade was answered: version 2, and what migrate wrote, after the restart.
  const after = await t.tmp()
  const { lines } = await upgradeAndKill(after, owner, /^upgraded \d+$/)
  const index = Number(lines.find((l) => l.startsWith('upgraded '))!.slice(9))
  host = await VmHost.open(after)
  t.teardown(() => host.close())
  t.is(host.script.version, 2, 'version 2 in force')
  t.is(host.script.index, index)
  t.ok(await host.drive.entry('/migrated'), 'what migrate wrote is there')
  t.alike(host.methods, ['RSVP', 'count', 'list'])
  t.is((await call(host, Identity.generate(), 'count')).result, 20)
  const report = await replay(host.logAndFiles())
  t.ok(report.ok && report.upgrades === 1, 'it replays clean, the upgrade included')
})

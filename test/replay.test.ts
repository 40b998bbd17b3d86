import test, { type Test } from 'brittle'
import b4a from 'b4a'
import { VmHost, Identity, replay, combineReports, checkpoints, EntryType, encode, logEntry, decodeEntry, type LogEntry } from '../src/index.js'
import { RSVP, openCores, entries, renameFileBlock, rawEntries } from './helpers/index.js'

/** A host with a few loads and calls, closed; returns its storage dir and key. */
async function history(t: Test): Promise<{ dir: string; calls: number }> {
  const dir = await t.tmp()
  let host = await VmHost.create(dir, { script: RSVP })
  const ids = [Identity.generate(), Identity.generate(), Identity.generate()]
  for (let i = 0; i < 6; i++) await host.call(ids[i % 3]!.sign(host.key, 'RSVP', [i % 2 === 0, 'reason ' + i]))
  await host.close()
  host = await VmHost.open(dir)
  for (let i = 0; i < 4; i++) await host.call(ids[i % 3]!.sign(host.key, 'RSVP', [true, 'again ' + i]))
  await host.call(ids[0]!.sign(host.key, 'list', []))
  await host.close()
  return { dir, calls: 11 }
}

/** Rewrite the log from `index` on, as a dishonest host with the secret key can. */
async function rewrite(log: { truncate(n: number): Promise<void>; append(b: Uint8Array[]): Promise<unknown> }, index: number, replacement: Uint8Array[]): Promise<void> {
  await log.truncate(index)
  await log.append(replacement)
}

function firstCall(list: LogEntry[], from = 0): number {
  return list.findIndex((e, i) => i >= from && e.type === EntryType.CALL)
}

test('replay: an honest log checks out from the genesis and from every load checkpoint', async (t) => {
  const { dir, calls } = await history(t)
  const cores = await openCores(t, dir)
  const progress: number[] = []
  const report = await replay(cores, { onProgress: (p) => progress.push(p.index), batch: 4 })
  t.ok(report.ok)
  t.is(report.calls, calls)
  t.is(report.loads, 2)
  t.is(report.from, 1)
  t.is(report.to, cores.log.length)
  t.ok(progress.length >= 3, 'reports progress as it goes')
  const list = await entries(cores.log)
  const secondLoad = list.findIndex((e, i) => i > 1 && e.type === EntryType.LOAD)
  const fromCheckpoint = await replay(cores, { from: secondLoad })
  t.ok(fromCheckpoint.ok)
  t.is(fromCheckpoint.loads, 1)
  t.is(fromCheckpoint.calls, 5)
  await t.exception(replay(cores, { from: secondLoad + 1 }), /REPLAY_INVALID/, 'a replay starts only at a load entry')
  await t.exception(replay(cores, { to: cores.log.length + 1 }), /REPLAY_INVALID: cannot replay entries 1 to \d+: .*at most the log's length/, 'nor ends past the log')
  await t.exception(replay(cores, { from: secondLoad, to: secondLoad }), /REPLAY_INVALID: cannot replay entries \d+ to \d+: give whole entry numbers/, 'nor ends where it starts')
  await t.exception(replay(cores, { from: 1.5 }), /REPLAY_INVALID/, 'entry numbers are whole')
})

test('replay catches files changed outside the log', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  await cores.drive.put('/rsvps/mallory.json', '{"isAttending":true}')
  const report = await replay(cores)
  t.absent(report.ok)
  t.is(report.divergence!.class, 'files-tampered')
  t.is(report.divergence!.index, cores.log.length, 'after the last entry: no entry accounts for the change')
})

test('replay catches files changed between two calls', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const list = await entries(cores.log)
  const i = firstCall(list, 4)
  const e = list[i]!
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  // Rewrite the files archive from this call's block on: its file now has another name.
  await renameFileBlock(cores.drive.db.core, e.files.dbLength - 1, '/rsvps/mallory.json')
  const report = await replay(cores)
  t.is(report.divergence?.class, 'files-tampered')
  t.is(report.divergence?.index, i)
  t.ok(report.divergence!.found.includes('mallory'), 'says what was found')
  t.ok(report.divergence!.expected.includes('/rsvps/'), 'and what was expected')
})

test('a running host stops when its files archive changes under it', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  t.teardown(() => host.close())
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'RSVP', [true]))
  await host.drive.put('/rsvps/mallory.json', 'sneaky')
  const err = await host.call(alice.sign(host.key, 'RSVP', [false])).catch((e) => e)
  t.is(err.code, 'STORAGE_FAILED')
  t.ok(err.message.includes('outside the log'))
  const next = await host.call(alice.sign(host.key, 'RSVP', [true])).catch((e) => e)
  t.is(next.code, 'STORAGE_FAILED', 'and refuses further calls')
})

test('replay catches a forged result', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const all = await rawEntries(cores.log)
  const list = all.map((b, i) => decodeEntry(b, i))
  const i = list.length - 1 // the `list` call returned the RSVP file names
  const e = list[i]!
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  e.outcome = { ...e.outcome, value: b4a.from('["nobody.json"]') }
  await rewrite(cores.log, i, [encode(logEntry, e)])
  const report = await replay(cores)
  t.is(report.divergence?.class, 'result-differs')
  t.is(report.divergence?.index, i)
  t.is(report.divergence?.expected, 'result ["nobody.json"]', 'expected: what the host logged')
  t.ok(report.divergence!.found.startsWith('result ['), 'found: what the replay produced')
})

test('replay catches a dropped entry', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const all = await rawEntries(cores.log)
  const list = all.map((b, i) => decodeEntry(b, i))
  const i = firstCall(list)
  await rewrite(cores.log, i, all.slice(i + 1))
  const report = await replay(cores)
  t.is(report.divergence?.class, 'files-tampered')
  t.is(report.divergence?.index, i)
})

test('replay catches reordered entries', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const all = await rawEntries(cores.log)
  const list = all.map((b, i) => decodeEntry(b, i))
  const i = firstCall(list)
  await rewrite(cores.log, i, [all[i + 1]!, all[i]!, ...all.slice(i + 2)])
  const report = await replay(cores)
  t.ok(report.divergence, 'caught')
  t.is(report.divergence?.index, i)
  t.ok(['files-tampered', 'malformed-entry'].includes(report.divergence!.class), report.divergence!.class)
})

test('replay catches a forged caller signature', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const all = await rawEntries(cores.log)
  const list = all.map((b, i) => decodeEntry(b, i))
  const i = firstCall(list, 3)
  const e = list[i]!
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  // The host pretends Mallory made this call.
  e.publicKey = Identity.generate().publicKey
  await rewrite(cores.log, i, [encode(logEntry, e), ...all.slice(i + 1)])
  const report = await replay(cores)
  t.is(report.divergence?.class, 'signature-invalid')
  t.is(report.divergence?.index, i)
})

test('replay catches a malformed entry and a replayed (duplicate) call', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const all = await rawEntries(cores.log)
  const list = all.map((b, i) => decodeEntry(b, i))
  const i = firstCall(list)
  await rewrite(cores.log, i + 1, [b4a.from('not an entry'), ...all.slice(i + 2)])
  const bad = await replay(cores)
  t.is(bad.divergence?.class, 'malformed-entry')
  t.is(bad.divergence?.index, i + 1)
  const { makeEvidence } = await import('../src/audit/evidence.js')
  const evidence = await makeEvidence(cores, bad.divergence!)
  t.is(evidence.divergence.class, 'malformed-entry', 'evidence is gathered for a malformed entry too (it is skipped looking for the checkpoint)')
  t.ok(evidence.checkpoint >= 1 && evidence.checkpoint <= i, 'from a load entry before it')

  // The same signed call twice: the second is a replay attack the host let through.
  const e = list[i]!
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  const dup = { ...e, time: e.time }
  await rewrite(cores.log, i + 1, [encode(logEntry, dup)])
  const report = await replay(cores)
  t.is(report.divergence?.index, i + 1)
  t.is(report.divergence?.class, 'signature-invalid')
  t.ok(report.divergence!.message.includes('nonce'))
})

test('replay from a checkpoint remembers the nonces of the calls before it: a call replayed across a restart is caught', async (t) => {
  const { dir } = await history(t)
  const cores = await openCores(t, dir)
  const list = await entries(cores.log)
  const checkpoint = list.findIndex((e, i) => i > 1 && e.type === EntryType.LOAD)
  const honest = await replay(cores, { from: checkpoint })
  t.ok(honest.ok, 'the honest stretch checks out')
  // Every call before the checkpoint, signed again right after it (each its own rewrite): the host let an old call through twice.
  for (const before of [firstCall(list), checkpoint - 1]) {
    const e = list[before]!
    if (e.type !== EntryType.CALL) return t.fail('expected a call before the checkpoint')
    await rewrite(cores.log, checkpoint + 1, [encode(logEntry, { ...e, time: list[checkpoint]!.time })])
    const report = await replay(cores, { from: checkpoint })
    t.is(report.divergence?.index, checkpoint + 1, `call ${before}, replayed after the checkpoint, is caught there`)
    t.is(report.divergence?.class, 'signature-invalid')
    t.ok(report.divergence!.message.includes('nonce'), report.divergence!.message)
  }
})

test('parallel audits: stretches between checkpoints, audited apart, combine into the whole', async (t) => {
  const dir = await t.tmp()
  let host = await VmHost.create(dir, { script: RSVP })
  const ids = [Identity.generate(), Identity.generate()]
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) await host.call(ids[i % 2]!.sign(host.key, 'RSVP', [i % 2 === 0, `r${round}.${i}`]))
    await host.close()
    host = await VmHost.open(dir)
  }
  await host.close()
  const cores = await openCores(t, dir)
  const loads = await checkpoints(cores.log)
  t.is(loads.length, 4)
  const bounds = loads.map((from, k) => [from, loads[k + 1] ?? cores.log.length] as const)
  const parts = await Promise.all(bounds.map(([from, to]) => replay(cores, { from, to })))
  t.ok(parts.every((p) => p.ok))
  const whole = combineReports(parts)
  t.ok(whole.ok)
  t.is(whole.gap, null)
  t.is(whole.from, 1)
  t.is(whole.to, cores.log.length)
  const full = await replay(cores)
  t.is(whole.calls, full.calls, 'the stretches add up to the whole log')

  const missing = combineReports([parts[0]!, parts[2]!, parts[3]!])
  t.absent(missing.ok)
  t.ok(missing.gap?.includes('were not audited'), 'a missing stretch is a gap')
  const forged = { ...parts[2]!, start: { ...parts[2]!.start!, dbTreeHash: b4a.alloc(32, 1) } }
  const broken = combineReports([parts[0]!, parts[1]!, forged, parts[3]!])
  t.absent(broken.ok)
  t.ok(broken.gap?.includes('another files state'), 'a stretch must start where the one before it ended')
})

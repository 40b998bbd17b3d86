import test from 'brittle'
import b4a from 'b4a'
import { VmHost, VmsNode, Identity, verifyReceipt, signedLength, EntryType, canonicalEncode } from '../src/index.js'
import { callSignable, type CallEntry } from '../src/messages/index.js'
import { openVmCores, closeVmCores, readEntry } from '../src/host/vm-storage.js'
import { noncesSince } from '../src/host/nonce-window.js'
import crypto from 'hypercore-crypto'
import { readdir } from 'node:fs/promises'
import { DEFAULT_LIMITS } from '../src/host/limits.js'
import { createHost, entries, RSVP } from './helpers/index.js'

test('a signed call runs, is logged, and its receipt verifies against the VM key alone', async (t) => {
  const { host } = await createHost(t, RSVP)
  t.is(host.key.byteLength, 32)
  t.alike(host.methods, ['RSVP', 'list'])
  const alice = Identity.generate()
  const call = alice.sign(host.key, 'RSVP', [true, 'yes!'])
  const { result, receipt } = await host.call(call)
  t.is(result, undefined)
  t.is(receipt.index, 2, 'genesis, load, then the call')
  const entry = verifyReceipt(host.key, receipt, call)
  t.is(entry.method, 'RSVP')
  t.ok(entry.outcome.ok)
  t.is(host.log.length, 3)
  const log = await entries(host.log)
  t.is(log[0]!.type, EntryType.GENESIS)
  t.is(log[1]!.type, EntryType.LOAD)
  t.is(log[2]!.type, EntryType.CALL)
  const listed = await host.call(alice.sign(host.key, 'list', []))
  t.alike(listed.result, [alice.id + '.json'])
  t.is(b4a.toString((await host.drive.get('/rsvps/' + alice.id + '.json'))!), '{"isAttending":true,"reason":"yes!"}')
})

test('calls committed together share the log\'s own signature at the group\'s end; each receipt verifies', async (t) => {
  const { host } = await createHost(t, RSVP)
  const ids = Array.from({ length: 40 }, () => Identity.generate())
  const calls = ids.map((id, i) => id.sign(host.key, 'RSVP', [i % 2 === 0, 'r' + i]))
  const answers = await Promise.all(calls.map((c) => host.call(c)))
  const lengths = new Set<number>()
  let shared = 0
  for (let i = 0; i < answers.length; i++) {
    const { receipt } = answers[i]!
    t.is(verifyReceipt(host.key, receipt, calls[i]).method, 'RSVP')
    const end = signedLength(receipt)
    t.ok(end > receipt.index && end <= host.log.length, 'signed at or after its entry')
    lengths.add(end)
    if (end > receipt.index + 1) shared++
    // The signature is hypercore's own for that length: the log's signed tree hash there.
    const signable = await (host.log as unknown as { signable(length: number, fork: number): Promise<Buffer> }).signable(end, receipt.fork)
    t.ok(crypto.verify(signable, receipt.signature, receipt.signer), `the log's signature at ${end}`)
  }
  t.ok(shared > 0, `some receipts are signed after their entry (${shared} of 40, ${lengths.size} groups)`)
  t.ok(lengths.size < 40, 'fewer signatures than calls')
})

test('a receipt does not verify for another VM or another call', async (t) => {
  const { host } = await createHost(t, RSVP)
  const { host: other } = await createHost(t, RSVP)
  const alice = Identity.generate()
  const call = alice.sign(host.key, 'RSVP', [true])
  const { receipt } = await host.call(call)
  t.exception(() => verifyReceipt(other.key, receipt), /BAD_RECEIPT/)
  t.exception(() => verifyReceipt(host.key, receipt, alice.sign(host.key, 'RSVP', [true])), /BAD_RECEIPT/)
})

test('a failed call is logged as failed, answered with its error and receipt, and changes no files', async (t) => {
  const { host } = await createHost(t, RSVP + `
exports.half = async () => { await System.files.writeFile('/half', 'x'); throw new Error('changed my mind') }`)
  const alice = Identity.generate()
  const before = host.drive.db.core.length
  const err = await host.call(alice.sign(host.key, 'half', [])).catch((e) => e)
  t.is(err.code, 'CALL_FAILED')
  t.is(err.remote.message, 'changed my mind')
  t.ok(err.receipt, 'a failed call has a receipt too')
  const entry = verifyReceipt(host.key, err.receipt)
  t.is(entry.outcome.ok, false)
  t.is(entry.outcome.error!.message, 'changed my mind')
  t.is(host.drive.db.core.length, before, 'no file entry written')
  t.is(await host.drive.get('/half'), null)
  const bad = await host.call(alice.sign(host.key, 'RSVP', ['maybe'])).catch((e) => e)
  t.is(bad.remote.name, 'TypeError')
})

test('bad requests are refused before execution and never logged', async (t) => {
  const { host } = await createHost(t, RSVP, { limits: { maxArgsBytes: 1024 } })
  const { host: other } = await createHost(t, RSVP)
  const alice = Identity.generate()
  const length = host.log.length

  const cases: Array<[string, () => unknown, string]> = [
    ['unknown method', () => alice.sign(host.key, 'nope', []), 'UNKNOWN_METHOD'],
    ['reserved init', () => alice.sign(host.key, 'init', []), 'RESERVED_METHOD'],
    ['prototype name', () => alice.sign(host.key, 'constructor', []), 'UNKNOWN_METHOD'],
    ['signed for another VM', () => alice.sign(other.key, 'RSVP', [true]), 'WRONG_VM'],
    ['args too large', () => alice.sign(host.key, 'RSVP', [true, 'x'.repeat(2000)]), 'TOO_LARGE'],
    ['bad signature', () => ({ ...alice.sign(host.key, 'RSVP', [true]), signature: b4a.alloc(64, 1) }), 'BAD_SIGNATURE'],
    ['args changed after signing', () => ({ ...alice.sign(host.key, 'RSVP', [true]), args: canonicalEncode([false], 100) }), 'BAD_SIGNATURE'],
    ['args not canonical', () => signRaw(alice, host.key, 'RSVP', b4a.from('[true, "x"]')), 'MALFORMED_REQUEST'],
    ['args not an array', () => signRaw(alice, host.key, 'RSVP', b4a.from('{"a":1}')), 'MALFORMED_REQUEST'],
    ['args not JSON', () => signRaw(alice, host.key, 'RSVP', b4a.from('[tru')), 'MALFORMED_REQUEST'],
    ['short nonce', () => ({ ...alice.sign(host.key, 'RSVP', [true]), nonce: b4a.alloc(8) }), 'MALFORMED_REQUEST'],
    ['not an object', () => null, 'MALFORMED_REQUEST'],
    ['nonce from the future', () => alice.sign(host.key, 'RSVP', [true], { time: Date.now() + 3_600_000 }), 'BAD_NONCE'],
    ['nonce too old', () => alice.sign(host.key, 'RSVP', [true], { time: Date.now() - 3_600_000 }), 'BAD_NONCE']
  ]
  for (const [name, make, code] of cases) {
    const err = await host.call(make() as never).catch((e) => e)
    t.is(err?.code, code, name)
  }
  t.exception(() => alice.sign(host.key, 'RSVP', [NaN]), /NOT_ENCODABLE/)
  t.is(host.log.length, length, 'nothing was logged')
})

test('bad options and limits are refused with BAD_OPTION before anything is made; good ones are logged in the genesis', async (t) => {
  const dir = await t.tmp()
  const script = 'exports.ok = async () => 1'
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ limits: { timeoutMs: -1 } }, /limits\.timeoutMs is -1: .*from 1 to/],
    [{ limits: { memoryMb: 'big' } }, /limits\.memoryMb is "big"/],
    [{ limits: { memoryMb: 4 } }, /from 8 to/],
    [{ limits: { maxArgsBytes: 0 } }, /limits\.maxArgsBytes is 0/],
    [{ limits: { maxResultBytes: 1.5 } }, /whole number/],
    [{ limits: { nonceWindowMs: NaN } }, /limits\.nonceWindowMs is NaN/],
    [{ limits: { timeoutMS: 100 } }, /limits\.timeoutMS is not a limit; the limits are timeoutMs, memoryMb/],
    [{ limits: 5 }, /limits must be an object/],
    [{ filesCacheEntries: -3 }, /filesCacheEntries is -3: it takes a whole number, at least 1/],
    [{ filesCacheEntries: 'lots' }, /filesCacheEntries is "lots"/],
    [{ maxQueue: 0 }, /maxQueue is 0/],
    [{ oracleTimeoutMs: Infinity }, /oracleTimeoutMs is Infinity/]
  ]
  for (const [opts, message] of bad) {
    const err = await VmHost.create(dir, { script, ...opts } as never).then(() => null, (e) => e)
    t.is(err?.code, 'BAD_OPTION', JSON.stringify(opts) + ' → BAD_OPTION')
    t.ok(message.test(err?.message), err?.message)
  }
  t.exception(() => new VmsNode({ storage: dir, filesCacheEntries: 0 }), /BAD_OPTION: filesCacheEntries is 0/, 'a node too')
  t.exception(() => new VmsNode({ storage: dir, timeoutMs: -5 }), /BAD_OPTION: timeoutMs is -5/)
  t.exception(() => new VmsNode({ storage: dir, idleMs: 0.5 }), /BAD_OPTION: idleMs is 0.5/)
  t.exception(() => new VmsNode({ storage: dir, deploy: { allow: [], maxVms: NaN } }), /BAD_OPTION: deploy.maxVms is NaN/, 'a quota that is not a number would be no quota')
  t.alike(await readdir(dir), [], 'nothing was made in the storage directory')
  const host = await VmHost.create(dir, { script, limits: { timeoutMs: 700, memoryMb: 8, maxArgsBytes: 2, nonceSkewMs: 0 }, filesCacheEntries: 1 })
  t.teardown(() => host.close())
  t.alike(host.limits, { ...DEFAULT_LIMITS, timeoutMs: 700, memoryMb: 8, maxArgsBytes: 2, nonceSkewMs: 0 }, 'the smallest values are taken, the rest are the defaults')
  t.is((await host.call(Identity.generate().sign(host.key, 'ok', []))).result, 1, 'and the VM serves')
  t.is((await entries(host.log))[0]!.type, EntryType.GENESIS)
})

test('a reused nonce is refused, also after a restart', async (t) => {
  const { host, dir } = await createHost(t, RSVP)
  const alice = Identity.generate()
  const call = alice.sign(host.key, 'RSVP', [true])
  await host.call(call)
  t.is((await host.call(call).catch((e) => e)).code, 'BAD_NONCE')
  await host.close()
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  t.is((await again.call(call).catch((e) => e)).code, 'BAD_NONCE', 'seen nonces are rebuilt from the log')
  await again.call(alice.sign(again.key, 'RSVP', [false]))
})

test('a restart rebuilds the nonces of every call in the window (found by bisection, read in chunks)', async (t) => {
  const { host, dir } = await createHost(t, RSVP)
  const ids = Array.from({ length: 20 }, () => Identity.generate())
  const calls = Array.from({ length: 700 }, (_, i) => ids[i % 20]!.sign(host.key, 'RSVP', [i % 2 === 0, 'n' + i]))
  let next = 0
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < calls.length) await host.call(calls[next++]!) }))
  const logged = await entries(host.log)
  await host.close()
  const cores = await openVmCores(dir, { existing: true })
  // Against every entry read one by one: the calls at or after a time, for times before, inside and after the log.
  const times = [...new Set(logged.map((e) => e.time))]
  const points: Array<[string, number]> = [['before the log', 0], ['the first call\'s time', times[1]!], ['a time in the middle', times[Math.floor(times.length / 2)]!], ['the last time', times[times.length - 1]!], ['after the log', times[times.length - 1]! + 1]]
  for (const [label, since] of points) {
    const expected = logged.filter((e) => e.type === EntryType.CALL && e.time >= since).map((e) => b4a.toString((e as CallEntry).nonce, 'hex'))
    const got: string[] = []
    for await (const e of noncesSince((i) => readEntry(cores.log, i), cores.log.length, since)) got.push(b4a.toString(e.nonce, 'hex'))
    t.alike(got, expected, `from ${label}: the ${expected.length} calls logged at or after it`)
  }
  await closeVmCores(cores)
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  for (const i of [0, 255, 256, 699]) t.is((await again.call(calls[i]!).catch((e) => e)).code, 'BAD_NONCE', `call ${i} cannot be replayed after the restart`)
})

test('results that are too large or not encodable fail the call with a clear error', async (t) => {
  const { host } = await createHost(t, `
exports.big = async () => 'x'.repeat(2000)
exports.nan = async () => ({ a: [1, NaN] })
exports.fn = async () => () => 1
exports.nothing = async () => undefined
exports.neg = async () => -0`, { limits: { maxResultBytes: 1000 } })
  const alice = Identity.generate()
  const big = await host.call(alice.sign(host.key, 'big', [])).catch((e) => e)
  t.is(big.code, 'CALL_FAILED')
  t.is(big.remote.code, 'TOO_LARGE')
  const nan = await host.call(alice.sign(host.key, 'nan', [])).catch((e) => e)
  t.is(nan.remote.code, 'NOT_ENCODABLE')
  t.ok(nan.message.includes('$.a[1]'), 'names the path')
  const fn = await host.call(alice.sign(host.key, 'fn', [])).catch((e) => e)
  t.is(fn.remote.code, 'NOT_ENCODABLE')
  t.is((await host.call(alice.sign(host.key, 'nothing', []))).result, undefined)
  const neg = await host.call(alice.sign(host.key, 'neg', []))
  t.is(b4a.toString(neg.value), '0')
})

test('a full queue refuses calls (backpressure) and loses none of the admitted ones', async (t) => {
  const { host } = await createHost(t, `exports.spin = async (ms) => { const end = Date.now() + 0; let x = 0; for (let i = 0; i < ms * 20000; i++) x += i; return x }`, { maxQueue: 4 })
  const alice = Identity.generate()
  const calls = Array.from({ length: 10 }, () => host.call(alice.sign(host.key, 'spin', [5])).then(() => 'ok', (e) => e.code))
  const outcomes = await Promise.all(calls)
  t.is(outcomes.filter((o) => o === 'ok').length, 4)
  t.is(outcomes.filter((o) => o === 'QUEUE_FULL').length, 6)
  t.is((await entries(host.log)).filter((e) => e.type === EntryType.CALL).length, 4)
})

test('scripts that do not compile, fail to load or export nothing are refused at create', async (t) => {
  const syntax = await VmHost.create(await t.tmp(), { script: 'exports.a = async () => {', filename: 'broken.js' }).catch((e) => e)
  t.is(syntax.code, 'SCRIPT_INVALID')
  t.ok(syntax.message.includes('broken.js'))
  const init = await VmHost.create(await t.tmp(), { script: 'exports.init = async () => { throw new Error("no db") }; exports.a = async () => 1' }).catch((e) => e)
  t.is(init.code, 'SCRIPT_INIT_FAILED')
  t.ok(init.message.includes('no db'))
  const top = await VmHost.create(await t.tmp(), { script: 'null.x; exports.a = async () => 1' }).catch((e) => e)
  t.is(top.code, 'SCRIPT_INIT_FAILED')
  const none = await VmHost.create(await t.tmp(), { script: 'const x = 1' }).catch((e) => e)
  t.is(none.code, 'SCRIPT_INVALID')
  const empty = await VmHost.open(await t.tmp()).catch((e) => e)
  t.is(empty.code, 'STORAGE_INVALID')
})

test('calls run one at a time and are logged in the order they were admitted', async (t) => {
  const { host } = await createHost(t, `let n = 0; exports.next = async () => ++n`)
  const ids = Array.from({ length: 8 }, () => Identity.generate())
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => host.call(ids[i % 8]!.sign(host.key, 'next', []))))
  const results = answers.map((a) => a.result as number)
  const indexes = answers.map((a) => a.receipt.index)
  t.alike(results, Array.from({ length: 200 }, (_, i) => i + 1), 'executed in submission order, one at a time')
  t.alike(indexes, Array.from({ length: 200 }, (_, i) => i + 2), 'logged in the same order')
})

test('close lets admitted calls finish and refuses new ones', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  const inflight = host.call(alice.sign(host.key, 'RSVP', [true])).catch((e) => e)
  const closing = host.close()
  const late = await host.call(alice.sign(host.key, 'RSVP', [false])).catch((e) => e)
  t.is(late.code, 'CLOSED')
  await closing
  const answer = await inflight
  t.ok(answer.receipt, 'the call admitted before close was answered')
  t.is(answer.receipt.index, 2)
})

function signRaw(id: Identity, vmKey: Uint8Array, method: string, args: Uint8Array) {
  const nonce = id.sign(vmKey, method, []).nonce
  return { vmKey, method, args, nonce, publicKey: id.publicKey, signature: crypto.sign(callSignable(vmKey, method, args, nonce), id.secretKey) }
}

import test from 'brittle'
import { Identity, EntryType, replay } from '../src/index.js'
import { createHost, entries } from './helpers/index.js'

test('scripts see plain JavaScript and System only', async (t) => {
  const { host } = await createHost(t, `
exports.probe = async () => ({
  require: typeof require, process: typeof process, Buffer: typeof Buffer,
  setTimeout: typeof setTimeout, setInterval: typeof setInterval, queueMicrotask: typeof queueMicrotask,
  WeakRef: typeof WeakRef, FinalizationRegistry: typeof FinalizationRegistry,
  SharedArrayBuffer: typeof SharedArrayBuffer, Atomics: typeof Atomics, WebAssembly: typeof WebAssembly,
  fetch: typeof fetch, System: typeof System, files: Object.keys(System.files).sort(), console: typeof console.log
})`)
  const { result } = await host.call(Identity.generate().sign(host.key, 'probe', []))
  t.alike(result, {
    require: 'undefined', process: 'undefined', Buffer: 'undefined',
    setTimeout: 'undefined', setInterval: 'undefined', queueMicrotask: 'undefined',
    WeakRef: 'undefined', FinalizationRegistry: 'undefined',
    SharedArrayBuffer: 'undefined', Atomics: 'undefined', WebAssembly: 'undefined',
    fetch: 'undefined', System: 'object',
    files: ['getInfo', 'history', 'mkdir', 'readFile', 'readdir', 'rmdir', 'stat', 'unlink', 'writeFile'],
    console: 'function'
  })
})

test('Date is the logged call time, Math.random the logged seed, caller id the signer', async (t) => {
  const { host } = await createHost(t, `
exports.world = async () => ({ now: Date.now(), date: new Date().getTime(), str: typeof Date(), r: [Math.random(), Math.random()], caller: System.caller.id })`)
  const alice = Identity.generate()
  const a = await host.call(alice.sign(host.key, 'world', []))
  const b = await host.call(alice.sign(host.key, 'world', []))
  const log = await entries(host.log)
  const ea = log[a.receipt.index]!
  const eb = log[b.receipt.index]!
  if (ea.type !== EntryType.CALL || eb.type !== EntryType.CALL) return t.fail('not calls')
  const ra = a.result as { now: number; date: number; r: number[]; caller: string }
  t.is(ra.now, ea.time)
  t.is(ra.date, ea.time)
  t.is(ra.caller, alice.id)
  t.not(ra.r[0], ra.r[1])
  t.ok(ra.r.every((x) => x >= 0 && x < 1))
  t.unlike((b.result as { r: number[] }).r, ra.r, 'each call has its own seed')
  t.ok((await replay(host.logAndFiles())).ok, 'the replay sees the same time and randomness')
})

test('time zone and locale do not leak: an auditor in another zone and locale replays byte-identically', async (t) => {
  const { host } = await createHost(t, `
exports.local = async () => [new Date(0).toString(), new Date(86400000 * 200).getHours(), (1234567.891).toLocaleString(), new Date(0).toLocaleString(), Intl.DateTimeFormat().resolvedOptions().timeZone, ['b', 'a', 'ä'].sort((x, y) => x.localeCompare(y))]`)
  const { result } = await host.call(Identity.generate().sign(host.key, 'local', []))
  const r = result as unknown[]
  t.is(r[0], 'Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)')
  t.is(r[1], 0)
  t.is(r[4], 'UTC')
  // The auditor's own process runs in Kolkata with a German locale; its sandbox must not.
  const saved = { TZ: process.env.TZ, LANG: process.env.LANG }
  process.env.TZ = 'Asia/Kolkata'
  process.env.LANG = 'de_DE.UTF-8'
  t.teardown(() => { process.env.TZ = saved.TZ; process.env.LANG = saved.LANG })
  const report = await replay(host.logAndFiles())
  t.ok(report.ok, 'replayed identically')
  t.is(report.divergence, null)
})

test('an infinite loop fails that call only, with TIMEOUT, and the host serves on', async (t) => {
  const { host } = await createHost(t, `
let calls = 0
exports.spin = async () => { calls++; await null; while (true) {} }
exports.count = async () => calls`, { limits: { timeoutMs: 200 } })
  const alice = Identity.generate()
  t.is((await host.call(alice.sign(host.key, 'count', []))).result, 0)
  const err = await host.call(alice.sign(host.key, 'spin', [])).catch((e) => e)
  t.is(err.code, 'TIMEOUT')
  t.ok(err.receipt, 'the failed call is logged')
  t.is((await host.call(alice.sign(host.key, 'count', []))).result, 0, 'in-memory state starts over after the limit (a load entry)')
  const log = await entries(host.log)
  t.is(log[log.length - 2]!.type, EntryType.LOAD, 'a load entry follows the call that hit the limit')
  const report = await replay(host.logAndFiles())
  t.ok(report.ok)
  t.ok(report.notes.some((n) => n.includes('TIMEOUT')), 'the replay notes the limit instead of re-running it')
})

test('a timeout inside a batch fails only the looping call', async (t) => {
  const { host } = await createHost(t, `
exports.ok = async (i) => i
exports.spin = async () => { while (true) {} }`, { limits: { timeoutMs: 300 } })
  const alice = Identity.generate()
  const calls = [0, 1, 2, 3, 4, 5].map((i) => host.call(alice.sign(host.key, i === 3 ? 'spin' : 'ok', i === 3 ? [] : [i])).then((a) => a.result, (e) => e.code))
  t.alike(await Promise.all(calls), [0, 1, 2, 'TIMEOUT', 4, 5])
  t.ok((await replay(host.logAndFiles())).ok)
})

test('a memory bomb, a stack overflow and a thrown non-Error fail that call only', async (t) => {
  const { host } = await createHost(t, `
exports.bomb = async () => { const a = []; while (true) a.push(new Array(1e6).fill(7)) }
exports.deep = async () => { const f = (n) => f(n + 1) + 1; return f(0) }
exports.throw42 = async () => { throw 42 }
exports.throwObj = async () => { throw { weird: true } }
exports.ok = async () => 'fine'`, { limits: { memoryMb: 32 } })
  const alice = Identity.generate()
  const bomb = await host.call(alice.sign(host.key, 'bomb', [])).catch((e) => e)
  t.is(bomb.code, 'MEMORY_LIMIT')
  t.is((await host.call(alice.sign(host.key, 'ok', []))).result, 'fine', 'serving on after the memory bomb')
  const deep = await host.call(alice.sign(host.key, 'deep', [])).catch((e) => e)
  t.is(deep.code, 'STACK_OVERFLOW')
  const n = await host.call(alice.sign(host.key, 'throw42', [])).catch((e) => e)
  t.is(n.code, 'CALL_FAILED')
  t.is(n.remote.name, 'ThrownValue')
  t.ok(n.remote.message.includes('42'))
  const o = await host.call(alice.sign(host.key, 'throwObj', [])).catch((e) => e)
  t.is(o.code, 'CALL_FAILED')
  t.is((await host.call(alice.sign(host.key, 'ok', []))).result, 'fine')
  const report = await replay(host.logAndFiles())
  t.ok(report.ok, 'the log with its limit entries replays clean')
  t.is(report.notes.length, 2)
})

test('a sandbox process that dies fails only the call running in it', async (t) => {
  const { host } = await createHost(t, `exports.ok = async () => 'fine'; exports.hang = async () => { while (true) {} }`, { limits: { timeoutMs: 5000 } })
  const alice = Identity.generate()
  t.is((await host.call(alice.sign(host.key, 'ok', []))).result, 'fine')
  // Kill the sandbox process while a call runs in it, as a V8 abort would.
  const pending = host.call(alice.sign(host.key, 'hang', [])).catch((e) => e)
  await new Promise((r) => setTimeout(r, 300))
  const after = host.call(alice.sign(host.key, 'ok', []))
  const child = (host as unknown as { sandbox: { child: { kill(s: string): void } } }).sandbox.child
  child.kill('SIGKILL')
  const err = await pending
  t.is(err.code, 'SANDBOX_CRASHED')
  t.is((await after).result, 'fine', 'the call queued behind it still runs')
  t.ok(host.sandboxSpawns >= 2, 'a new sandbox process was started')
  t.ok((await replay(host.logAndFiles())).ok)
})

test('console output goes to the host log, never into the call log', async (t) => {
  const lines: string[] = []
  const { host } = await createHost(t, `exports.say = async (x) => { console.log('hello', x, { a: 1 }); console.error('oops') }`, { onLog: (level, msg) => lines.push(level + ': ' + msg) })
  await host.call(Identity.generate().sign(host.key, 'say', ['world']))
  await new Promise((r) => setTimeout(r, 50))
  t.alike(lines, ['log: hello world {"a":1}', 'error: oops'])
})

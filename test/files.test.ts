import test, { type Test } from 'brittle'
import b4a from 'b4a'
import { Identity, replay, EntryType, VmHost } from '../src/index.js'
import { createHost, entries, openCores } from './helpers/index.js'
import { FilesView } from '../src/files/files-view.js'
import { shallowEntries } from '../src/files/entries.js'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import { nameHash } from '../src/files/name-hash.js'
import { DEFAULT_FILES_CACHE_ENTRIES } from '../src/files/bee-cache.js'

const FS = `
const f = System.files
exports.run = async (steps) => {
  const out = []
  for (const [op, ...args] of steps) {
    try {
      if (args[1] && Array.isArray(args[1].bytes)) args[1] = new Uint8Array(args[1].bytes)
      let r = await f[op](...args)
      if (r instanceof Uint8Array) r = { bytes: Array.from(r) }
      else if (r && typeof r.isFile === 'function') r = { size: r.size, file: r.isFile(), dir: r.isDirectory(), mtime: r.mtime.getTime() }
      out.push(r === undefined ? null : r)
    } catch (err) {
      out.push('E:' + err.code)
    }
  }
  return out
}
exports.failAfter = async (steps) => { await exports.run(steps); throw new Error('undo') }
`

test('files: the NodeVMS script API with node-like errors', async (t) => {
  const { host } = await createHost(t, FS)
  const alice = Identity.generate()
  const run = async (steps: unknown[][]) => (await host.call(alice.sign(host.key, 'run', [steps]))).result as unknown[]
  t.alike(await run([
    ['mkdir', '/a'], ['mkdir', '/a'], ['writeFile', '/a/b.txt', 'héllo'], ['readFile', '/a/b.txt', 'utf8'],
    ['readFile', '/a/b.txt', 'binary'], ['readdir', '/a'], ['readdir', '/'], ['stat', '/a'], ['readFile', '/nope', 'utf8'],
    ['readFile', '/a', 'utf8'], ['writeFile', '/a', 'x'], ['writeFile', '/a/b.txt/c', 'x'], ['readdir', '/a/b.txt'],
    ['mkdir', '/a/b.txt'], ['unlink', '/a'], ['rmdir', '/a'], ['rmdir', '/a/b.txt'], ['unlink', '/missing'], ['rmdir', '/']
  ]), [
    null, null, null, 'héllo',
    { bytes: [104, 195, 169, 108, 108, 111] }, ['b.txt'], ['a'], { size: 0, file: false, dir: true, mtime: (await lastTime(host)) },
    'E:ENOENT', 'E:EISDIR', 'E:EISDIR', 'E:ENOTDIR', 'E:ENOTDIR',
    'E:EEXIST', 'E:EISDIR', 'E:ENOTEMPTY', 'E:ENOTDIR', 'E:ENOENT', 'E:EBUSY'
  ])
  const stat = (await run([['stat', '/a/b.txt']]))[0] as { size: number; file: boolean }
  t.is(stat.size, 6)
  t.is(stat.file, true)
  t.alike(await run([['unlink', '/a/b.txt'], ['readdir', '/a'], ['rmdir', '/a'], ['readdir', '/']]), [null, [], null, []], 'a made directory stays until removed')
  t.alike(await run([['writeFile', '/x/y/z.bin', 'q'], ['readdir', '/x'], ['unlink', '/x/y/z.bin'], ['readdir', '/']]), [null, ['y'], null, []], 'implicit directories vanish with their last file, as in hyperdrive')
  t.alike(await run([['writeFile', 'rel.txt', 'r'], ['readFile', '/../../rel.txt', 'utf8'], ['readFile', '/a/../rel.txt', 'utf8'], ['readdir', '../..']]), [null, 'r', 'r', ['rel.txt']], 'paths are normalised and .. cannot escape the root')
  t.alike(await run([['writeFile', '/bin', { bytes: [0, 255, 1] }], ['readFile', '/bin', 'hex']]), [null, '00ff01'])
})

test('files: a failed call leaves no trace, in the archive or in what later calls see', async (t) => {
  const { host } = await createHost(t, FS)
  const alice = Identity.generate()
  const before = host.drive.db.core.length
  const err = await host.call(alice.sign(host.key, 'failAfter', [[['writeFile', '/ghost', 'boo'], ['mkdir', '/ghostdir']]])).catch((e) => e)
  t.is(err.code, 'CALL_FAILED')
  t.is(host.drive.db.core.length, before)
  const seen = (await host.call(alice.sign(host.key, 'run', [[['readdir', '/'], ['stat', '/ghost']]]))).result
  t.alike(seen, [[], 'E:ENOENT'])
})

test('files: each call entry commits to a readable archive version by tree hash', async (t) => {
  const { host } = await createHost(t, FS)
  const alice = Identity.generate()
  const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => host.call(alice.sign(host.key, 'run', [[['writeFile', `/f${i}`, 'v' + i], ['writeFile', '/last', String(i)]]]))))
  const log = await entries(host.log)
  for (const a of answers) {
    const e = log[a.receipt.index]!
    if (e.type !== EntryType.CALL) return t.fail('not a call')
    const snap = host.drive.checkout(e.files.dbLength)
    const n = JSON.parse(b4a.toString((await snap.get('/last'))!))
    t.is(b4a.toString((await snap.get(`/f${n}`))!), 'v' + n, `version ${e.files.dbLength} reads as after call ${n}`)
    t.alike(await host.drive.db.core.treeHash(e.files.dbLength), e.files.dbTreeHash)
    const blobs = (await host.drive.getBlobs()).core
    t.alike(await blobs.treeHash(e.files.blobsLength), e.files.blobsTreeHash)
    await snap.close()
  }
})

test('files: reads see the writes of earlier calls in the same batch, and getInfo/history report versions', async (t) => {
  const { host } = await createHost(t, `
exports.append = async (line) => {
  let text = ''
  try { text = await System.files.readFile('/log.txt', 'utf8') } catch {}
  await System.files.writeFile('/log.txt', text + line + '\\n')
  return text.split('\\n').length
}
exports.info = async () => ({ info: await System.files.getInfo(), history: await System.files.history() })`)
  const ids = [Identity.generate(), Identity.generate()]
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => host.call(ids[i % 2]!.sign(host.key, 'append', ['l' + i]))))
  t.alike(answers.map((a) => a.result), Array.from({ length: 20 }, (_, i) => i + 1))
  const text = b4a.toString((await host.drive.get('/log.txt'))!)
  t.is(text, Array.from({ length: 20 }, (_, i) => 'l' + i + '\n').join(''))
  const { result } = await host.call(ids[0]!.sign(host.key, 'info', [])) as { result: { info: { key: string; version: number }; history: Array<{ type: string; path: string; version: number }> } }
  t.is(result.info.version, host.drive.db.core.length)
  t.is(result.history.length, 20)
  t.alike(result.history[0], { type: 'put', path: '/log.txt', version: 2 })
  t.ok((await replay(host.logAndFiles())).ok)
})
async function lastTime(host: { log: { length: number; get(i: number): Promise<Buffer | null> } }): Promise<number> {
  const log = await entries(host.log)
  const e = log[log.length - 1]!
  return e.type === EntryType.GENESIS ? 0 : e.time
}

/**
 * The UTF-8 decoding the sandbox has always done (a byte that starts no sequence is U+FFFD), as char codes.
 * A frozen copy on purpose, not shared with src/sandbox/runtime.ts: replays of old logs depend on it, so a
 * change to the runtime's decoder must show up here as a difference.
 */
function referenceDecode(u: Uint8Array): number[] {
  let s = ''
  for (let i = 0; i < u.length;) {
    const x = u[i]!
    let cp = 0xfffd, n = 1
    if (x < 0x80) cp = x
    else if (x >= 0xc2 && x < 0xe0 && i + 1 < u.length) { cp = ((x & 31) << 6) | (u[i + 1]! & 63); n = 2 }
    else if (x >= 0xe0 && x < 0xf0 && i + 2 < u.length) { cp = ((x & 15) << 12) | ((u[i + 1]! & 63) << 6) | (u[i + 2]! & 63); n = 3 }
    else if (x >= 0xf0 && x < 0xf5 && i + 3 < u.length) { cp = ((x & 7) << 18) | ((u[i + 1]! & 63) << 12) | ((u[i + 2]! & 63) << 6) | (u[i + 3]! & 63); n = 4 }
    s += String.fromCodePoint(cp)
    i += n
  }
  const codes: number[] = []
  for (let i = 0; i < s.length; i++) codes.push(s.charCodeAt(i))
  return codes
}

test('files: big text files fit the memory limit, and UTF-8 is encoded and decoded as it always was', async (t) => {
  const { host } = await createHost(t, `
exports.big = async (n) => { await System.files.writeFile('/big.txt', 'é'.repeat(n)); return (await System.files.readFile('/big.txt', 'utf8')).length }
exports.put = (path, text) => System.files.writeFile(path, text)
exports.putBytes = (path, bytes) => System.files.writeFile(path, new Uint8Array(bytes))
exports.codes = async (path) => { const s = await System.files.readFile(path, 'utf8'); const out = []; for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i)); return out }
`)
  const alice = Identity.generate()
  const call = async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  // 12 MB of text: a JS array of its bytes took ~10 bytes of heap each, past the 128 MB limit.
  t.is(await call('big', 6_000_000), 6_000_000, 'a 12 MB text file written and read back in one call')
  t.is((await host.drive.entry('/big.txt'))!.value.blob!.byteLength, 12_000_000)

  // Encoding: as Node's (lone surrogates become U+FFFD).
  const texts = ['plain', 'é ü ß', '€ 中文', '😀 a pair', 'lone \ud800 high', 'lone \udc00 low', 'end \ud83d', '\ud83d\ude00\ud800\ud83d\ude00']
  for (const [i, text] of texts.entries()) {
    await call('put', `/t${i}`, text)
    t.alike(await host.drive.get(`/t${i}`), b4a.from(text, 'utf8'), JSON.stringify(text))
  }
  // Decoding: random bytes, malformed sequences included (never past U+10FFFF).
  let seed = 7
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  const bytes: number[] = []
  for (let i = 0; i < 14000; i++) {
    const r = rand()
    bytes.push(r < 0.3 ? Math.floor(rand() * 0x80) : r < 0.6 ? 0x80 + Math.floor(rand() * 0x40) : 0xc0 + Math.floor(rand() * 0x34))
  }
  await call('putBytes', '/raw', bytes)
  t.alike(await call('codes', '/raw'), referenceDecode(new Uint8Array(bytes)), '14,000 random bytes decode as before, char for char')
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays')
})

test('files: hex in and out, big files included', async (t) => {
  const { host } = await createHost(t, `
exports.bin = (n) => System.files.writeFile('/bin', new Uint8Array(n).map((_, i) => i * 7))
exports.hexLength = async () => (await System.files.readFile('/bin', 'hex')).length
exports.hexHead = async () => (await System.files.readFile('/bin', { encoding: 'hex' })).slice(0, 12)
exports.putHex = async (path, hex) => { await System.files.writeFile(path, hex, 'hex'); return (await System.files.stat(path)).size }
exports.bigHex = async (n) => { await System.files.writeFile('/h', 'aB'.repeat(n), 'hex'); return (await System.files.stat('/h')).size }
`)
  const alice = Identity.generate()
  const call = async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  const fails = async (method: string, ...args: unknown[]) => host.call(alice.sign(host.key, method, args)).then(() => 'answered', (err) => err.message as string)
  await call('bin', 5_000_000)
  // Read as hex: two characters added at a time took ~64 bytes of heap per byte, past the limit.
  t.is(await call('hexLength'), 10_000_000, 'a 5 MB file read as hex')
  t.is(await call('hexHead'), '00070e151c23')
  // Written from hex: a regular expression over 10 MB of hex overflowed the stack.
  t.is(await call('bigHex', 5_000_000), 5_000_000, '10 MB of hex written')
  t.alike((await host.drive.get('/h'))!.subarray(0, 2), b4a.from([0xab, 0xab]), 'either case')
  t.is(await call('putHex', '/x', '00ff10'), 3)
  t.alike(await host.drive.get('/x'), b4a.from('00ff10', 'hex'))
  t.ok((await fails('putHex', '/y', '0g')).includes('TypeError: not a hex string'), 'a non-hex character')
  t.ok((await fails('putHex', '/y', 'abc')).includes('TypeError: not a hex string'), 'an odd length')
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays')
})

test('files: history({ start, end, reverse }) gives that range, read from the archive alone, as the whole history filtered', async (t) => {
  const { host } = await createHost(t, `
exports.put = (i) => System.files.writeFile('/f' + i, String(i))
exports.hist = async (opts) => { await System.files.writeFile('/now', 'x'); return { all: await System.files.history(), part: await System.files.history(opts) } }
`)
  const alice = Identity.generate()
  const call = async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  for (let i = 0; i < 30; i++) await call('put', i)
  type Row = { type: string; path: string; version: number }
  const ranges: Array<[unknown, unknown]> = [[0, 5], [10, 20], [25, null], [2.5, 4.5], [-3, 2], [31, 40], [40, 50], ['x', null], [null, 'y']]
  for (const [start, end] of ranges) {
    for (const reverse of [false, true]) {
      const opts: Record<string, unknown> = {}
      if (start !== null) opts.start = start
      if (end !== null) opts.end = end
      if (reverse) opts.reverse = true
      const { all, part } = await call('hist', opts) as { all: Row[]; part: Row[] }
      const s0 = (opts.start as number) || 0
      const e0 = typeof opts.end === 'number' ? opts.end : Infinity
      const want = all.filter((r) => r.version > s0 && r.version <= e0)
      t.alike(part, reverse ? want.reverse() : want, JSON.stringify(opts))
    }
  }
  // Calls in one batch see the writes of those before them in the range too.
  const batch = await Promise.all([call('put', 100), call('hist', { start: 30 })])
  t.ok((batch[1] as { part: Row[] }).part.some((r) => r.path === '/f100'), 'a pending write of the same batch is in the range')
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays')
})

/**
 * Random operations (in batches, some calls failing, restarts and fresh
 * isolates between rounds), after each round the script's view of `sample`
 * paths (all of them by default), and now and then a walk of the whole tree,
 * checked against the archive itself. With `pad`, each name in the archive is
 * that many dots longer than in the test (which passes and compares short paths).
 */
async function randomOpsMatchArchive(t: Test, o: { names: string[]; depth: number; rounds: number; sample?: number; pad?: number; limits?: { memoryMb: number } }): Promise<void> {
  const pad = o.pad ?? 0
  const shorten = (p: string) => pad ? p.split('.'.repeat(pad)).join('') : p
  const script = FS + `
const PAD = '.'.repeat(${pad})
const expand = (p) => p.split('/').map((s) => s ? s + PAD : s).join('/')
const shorten = (p) => PAD ? p.split(PAD).join('') : p
const plainRun = exports.run
exports.run = (steps) => plainRun(steps.map(([op, p, ...rest]) => [op, expand(p), ...rest]))
exports.probe = async (paths, walkToo) => {
  const out = {}
  for (const p of paths) {
    try { const st = await f.stat(expand(p)); out[p] = st.isDirectory() ? 'dir' : 'file:' + st.size } catch (err) { out[p] = err.code }
  }
  if (!walkToo) return out
  const walk = async (d) => {
    for (const n of await f.readdir(d)) {
      const p = (d === '/' ? '' : d) + '/' + n
      const st = await f.stat(p)
      out['walk:' + shorten(p)] = st.isDirectory() ? 'dir' : 'file:' + st.size
      if (st.isDirectory()) await walk(p)
    }
  }
  await walk('/')
  return out
}`
  const { host: first, dir } = await createHost(t, script, { limits: o.limits })
  let host = first
  let seed = 42
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  const names = o.names
  const somePath = () => {
    const depth = 1 + rand(o.depth)
    return '/' + Array.from({ length: depth }, () => names[rand(names.length)]).join('/')
  }
  const allPaths: string[] = []
  const walkNames = (prefix: string, depth: number) => { for (const n of names) { const p = prefix + '/' + n; allPaths.push(p); if (depth > 1) walkNames(p, depth - 1) } }
  walkNames('', o.depth)
  const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/'
  const randomSteps = () => {
    const steps: unknown[][] = []
    for (let n = 1 + rand(8); n > 0; n--) {
      const p = somePath()
      switch (rand(7)) {
        case 0: case 1: steps.push(['writeFile', p, 'x'.repeat(rand(5))]); break
        case 2: steps.push(['mkdir', p]); break
        case 3: steps.push(['unlink', p]); break
        case 4: steps.push(['rmdir', p]); break
        case 5: steps.push(['readdir', p]); break
        default: steps.push(['stat', p])
      }
      // A change, then the directory it is in listed (what the call itself changed must show).
      if (rand(2) === 0) steps.push(['readdir', parentOf(p)])
    }
    return steps
  }
  /** The archive as it is: every file (with its size) and directory (marked, or implied by a path under it). */
  const truth = async () => {
    const out: Record<string, string> = {}
    for await (const e of host.drive.list('/') as AsyncIterable<{ key: string; value: { blob: { byteLength: number } | null; metadata?: { directory?: boolean } } }>) {
      const key = shorten(e.key)
      const parts = key.split('/').slice(1)
      for (let i = 1; i < parts.length; i++) out['/' + parts.slice(0, i).join('/')] = 'dir'
      out[key] = e.value.blob === null && e.value.metadata?.directory ? 'dir' : 'file:' + (e.value.blob?.byteLength ?? 0)
    }
    return out
  }
  const alice = Identity.generate()
  const send = (method: string, ...args: unknown[]) => host.call(alice.sign(host.key, method, args)).catch(() => null)
  let checked = 0
  for (let round = 0; round < o.rounds; round++) {
    // A batch of calls at once, some of which fail after their steps (their changes undone).
    const batch = Array.from({ length: 1 + rand(4) }, () => [rand(4) === 0 ? 'failAfter' : 'run', randomSteps()] as const)
    await Promise.all(batch.map(([method, steps]) => send(method, steps)))
    // Mostly stats alone (a directory listed stays listed: the cold paths would be left behind), now and then a walk.
    const walkToo = round % 4 === 3
    const probed = o.sample ? Array.from({ length: o.sample }, () => allPaths[rand(allPaths.length)]!) : allPaths
    const seen = (await host.call(alice.sign(host.key, 'probe', [probed, walkToo]))).result as Record<string, string>
    const real = await truth()
    const want: Record<string, string> = {}
    for (const p of probed) want[p] = real[p] ?? 'ENOENT'
    if (walkToo) for (const [p, v] of Object.entries(real)) want['walk:' + p] = v
    if (JSON.stringify(seen, Object.keys(seen).sort()) !== JSON.stringify(want, Object.keys(want).sort())) {
      t.comment(JSON.stringify(batch))
      t.alike(seen, want, `round ${round}: the script's view differs from the archive`)
      return
    }
    checked++
    if (round % 10 === 9) {
      // A fresh host: its first lookups go to the archive path by path.
      await host.close()
      host = await VmHost.open(dir)
      t.teardown(() => host.close())
    } else if (round % 10 === 4 || round % 10 === 7) {
      // A fresh isolate on the same host: what it lists comes from the listings the host kept, moved forward.
      while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  t.is(checked, o.rounds, `the view matched the archive after each of ${o.rounds} rounds`)
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays')
}

test('files: what scripts see of files and directories always matches the archive (random operations, failed calls, batches, restarts)', async (t) => {
  await randomOpsMatchArchive(t, { names: ['a', 'b', 'c'], depth: 3, rounds: 150 })
})

test('files: … and so it does when the files cache overflows the memory limit\'s share (directories too big to list, the cache dropped between calls)', async (t) => {
  // Names of 1,500 characters under an 8 MB limit: a subdirectory's listing outweighs what the cache
  // keeps (128 KB), and the paths looked up in a round outweigh the whole cache (512 KB).
  const names = Array.from({ length: 30 }, (_, i) => String.fromCharCode(97 + (i % 26)) + String(i).padStart(2, '0'))
  await randomOpsMatchArchive(t, { names, depth: 2, rounds: 60, sample: 60, pad: 1500, limits: { memoryMb: 8 } })
})

test('files: a directory too big for the memory limit is looked into path by path, and the cache stays within it', async (t) => {
  // Cached unbounded in the script's heap, ~1,500 files of such names filled an 8 MB limit:
  // from then on every call that looked into the directory failed with MEMORY_LIMIT, across restarts.
  const long = (i: number) => String(i).padStart(6, '0') + 'x'.repeat(2000)
  const { host } = await createHost(t, FS + `
exports.fill = async (from, to) => { for (let i = from; i < to; i++) await f.writeFile('/d/' + String(i).padStart(6, '0') + 'x'.repeat(2000), 'v' + i) }
exports.fillE = async (dir, n) => { for (let i = 0; i < n; i++) await f.writeFile(dir + '/f' + String(i).padStart(3, '0'), '') }
exports.empty = async (dir, n) => { for (let i = 0; i < n; i++) await f.unlink(dir + '/f' + String(i).padStart(3, '0')); await f.rmdir(dir); return f.readdir('/') }`, { limits: { memoryMb: 8 } })
  const alice = Identity.generate()
  const call = async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  for (let i = 0; i < 2400; i += 100) await call('fill', i, i + 100)
  const check = async (label: string) => {
    const r = await call('run', [
      ['stat', '/d/' + long(7)], ['readFile', '/d/' + long(2399), 'utf8'], ['stat', '/d/' + long(999999)],
      ['writeFile', '/d/' + long(5000), 'new'], ['readFile', '/d/' + long(5000), 'utf8'],
      ['unlink', '/d/' + long(3)], ['stat', '/d/' + long(3)], ['rmdir', '/d'], ['mkdir', '/d/' + long(4)]
    ]) as unknown[]
    t.alike(r.map((x) => (x && typeof x === 'object' && 'size' in x) ? 'size ' + (x as { size: number }).size : x),
      ['size 2', 'v2399', 'E:ENOENT', null, 'new', null, 'E:ENOENT', 'E:ENOTEMPTY', 'E:EEXIST'], label)
    await call('run', [['writeFile', '/d/' + long(3), 'v3'], ['unlink', '/d/' + long(5000)]]) // back as it was
  }
  await check('a call after 2,400 files were written')
  await call('fill', 2400, 2600) // more new files, each looked up first
  await check('and after 200 more')
  while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5))
  await check('in a fresh isolate')
  // More entries than a listing the cache keeps under this limit (512): listed whole when the script asks, its own changes in it.
  await call('fillE', '/e', 600)
  await call('run', [['mkdir', '/g']])
  await call('fillE', '/g', 520)
  while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5)) // (the isolate that wrote them has them listed)
  const [, , e, rm] = await call('run', [['unlink', '/e/f001'], ['writeFile', '/e/g', 'x'], ['readdir', '/e'], ['rmdir', '/e']]) as [unknown, unknown, string[], string]
  const want = Array.from({ length: 600 }, (_, i) => 'f' + String(i).padStart(3, '0')).filter((n) => n !== 'f001').concat('g')
  t.alike(e, want, 'readdir of a big directory shows the call\'s own unlink and write')
  t.is(rm, 'E:ENOTEMPTY')
  t.alike((await call('run', [['readdir', '/e']]) as string[][])[0], want, 'and so does the next call')
  t.alike(await call('empty', '/g', 520), ['d', 'e'], 'a call that empties a big directory may remove it')
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays under the same limit')
})

test('files: the host lists a directory looked into often while calls write to it, and answers from that listing right', async (t) => {
  // Under an 8 MB limit a directory of 2,000 files is not listed into the sandbox's cache: each new
  // path is looked up at the host, which after 16 lookups lists the directory in the background
  // (while the calls below write to it) and answers later lookups from memory.
  const script = FS + `
exports.fill = async (from, to) => { for (let i = from; i < to; i++) await f.writeFile('/d/f' + String(i).padStart(4, '0'), 'v') }
exports.probe = async (names) => { const out = []; for (const n of names) { try { out.push((await f.stat('/d/' + n)).size) } catch (err) { out.push(err.code) } } return out }`
  const { host: first, dir } = await createHost(t, script, { limits: { memoryMb: 8 } })
  const alice = Identity.generate()
  for (let i = 0; i < 2000; i += 200) await first.call(alice.sign(first.key, 'fill', [i, i + 200]))
  await first.call(alice.sign(first.key, 'run', [[['writeFile', '/d/sub/inner', 'i']]]))
  await first.close()
  const host = await VmHost.open(dir)
  t.teardown(() => host.close())
  const call = (method: string, ...args: unknown[]) => host.call(alice.sign(host.key, method, args)).then((a) => a.result)
  const absent = Array.from({ length: 20 }, (_, i) => 'absent' + i)
  t.alike(await call('probe', absent), absent.map(() => 'ENOENT'))
  // Meanwhile: new files, files gone, files rewritten.
  const changes: Promise<unknown>[] = []
  for (let i = 0; i < 30; i++) {
    changes.push(call('run', [['writeFile', '/d/new' + i, 'x'.repeat(i + 1)]]))
    changes.push(call('run', [['unlink', '/d/f' + String(i).padStart(4, '0')]]))
    changes.push(call('run', [['writeFile', '/d/f' + String(100 + i).padStart(4, '0'), 'yy']]))
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await Promise.all(changes)
  const names = [...absent, ...Array.from({ length: 30 }, (_, i) => ['new' + i, 'f' + String(i).padStart(4, '0'), 'f' + String(100 + i).padStart(4, '0'), 'f' + String(500 + i).padStart(4, '0')]).flat()]
  const truth = async () => Promise.all(names.map(async (n) => { const e = await host.drive.entry('/d/' + n); return e ? e.value.blob?.byteLength : 'ENOENT' }))
  for (let round = 0; round < 3; round++) {
    // A fresh isolate asks the host for each path.
    while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5))
    t.alike(await call('probe', names), await truth(), `round ${round}: what a fresh isolate finds is what the archive holds`)
    await call('run', [['writeFile', '/d/new' + round, 'zzzz'], ['unlink', '/d/f' + String(500 + round).padStart(4, '0')]])
  }
  // Enough lookups for the isolate to take the directory's name hashes: then a write onto a
  // subdirectory still fails, and one onto a file replaces it, the host asked nothing about either.
  while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5))
  const steps = [...Array.from({ length: 40 }, (_, i) => ['stat', '/d/absent-again' + i]), ['writeFile', '/d/sub', 'no'], ['writeFile', '/d/f0700', 'new'], ['readFile', '/d/f0700', 'utf8']]
  t.alike((await call('run', steps) as unknown[]).slice(40), ['E:EISDIR', null, 'new'])
  t.alike(await call('probe', ['sub', 'f0700']), [0, 3], 'the archive agrees (a directory\'s size is 0)')
})

test('files: a shallow listing gives each child once, in order, a file and a directory of one name as the file', async (t) => {
  // Any hyperdrive may hold a file `a` and files under `a/` (a script cannot make both); keys sort '/d/a' < '/d/a.json' < '/d/a/x'.
  const store = new Corestore(await t.tmp())
  const drive = new Hyperdrive(store)
  t.teardown(() => store.close())
  for (const p of ['/d/a', '/d/a.json', '/d/a/x', '/d/a/y/z', '/d/b/c', '/d/c', '/e']) await drive.put(p, b4a.from(p))
  const seen: Array<[string, string]> = []
  for await (const [name, value] of shallowEntries(drive.db, '/d')) seen.push([name, value ? 'file ' + value.blob?.byteLength : 'dir'])
  t.alike(seen, [['a', 'file 4'], ['a.json', 'file 9'], ['b', 'dir'], ['c', 'file 4']])
  const top: string[] = []
  for await (const [name] of shallowEntries(drive.db, '/')) top.push(name)
  t.alike(top, ['d', 'e'])
})

test('files: the hashes of a big directory\'s names that a sandbox takes cover what is pending, and only come from a kept listing', async (t) => {
  const { host, dir } = await createHost(t, FS)
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'run', [[...Array.from({ length: 20 }, (_, i) => ['writeFile', '/d/f' + i, 'x']), ['writeFile', '/d/sub/x', 'y']]]))
  await host.close()
  const cores = await openCores(t, dir)
  const view = new FilesView(cores.drive, cores.drive.db.core.length)
  t.is(await view.read('names', '/d', '1000'), null, 'not listed yet: none (the sandbox asks path by path)')
  t.is((await view.read('list', '/d') as unknown[]).length, 21)
  // A call that ran but is not flushed yet: its new file, its new directories, its delete.
  view.apply([
    { op: 'put', path: '/d/pending', data: new Uint8Array(1), mtime: 1 }, { op: 'mkdir', path: '/d/made', mtime: 1 },
    { op: 'put', path: '/d/implied/y', data: new Uint8Array(1), mtime: 1 }, { op: 'del', path: '/d/f0' }, { op: 'put', path: '/e/other', data: new Uint8Array(1), mtime: 1 }
  ])
  const hashes = await view.read('names', '/d', '1000') as { names: Int32Array; dirs: Int32Array }
  const want = ['pending', 'made', 'implied', 'sub', ...Array.from({ length: 20 }, (_, i) => 'f' + i)].map(nameHash)
  t.ok(want.every((h) => hashes.names.includes(h)), 'every name there, the pending ones too')
  t.alike([...hashes.dirs].sort(), ['made', 'implied', 'sub'].map(nameHash).sort(), 'and which are directories')
  t.alike([...hashes.names], [...hashes.names].sort((a, b) => a - b), 'sorted')
  t.alike([...hashes.dirs], [...hashes.dirs].sort((a, b) => a - b))
  t.is(await view.read('names', '/d', '10'), null, 'more than asked for: none')
})

test('files: the host keeps listings up to a number of entries in all, the oldest dropped first, and answers right either way', async (t) => {
  const { host, dir } = await createHost(t, FS)
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'run', [['a', 'b', 'c'].flatMap((d) => ['1', '2', '3'].map((f) => ['writeFile', `/${d}/${f}`, d + f]))]))
  await host.close()
  const cores = await openCores(t, dir)
  const view = new FilesView(cores.drive, cores.drive.db.core.length, { keepMax: 7 })
  const kept = async (d: string) => (await view.read('names', d, '100')) !== null
  const names = async (d: string) => ((await view.read('list', d)) as Array<[string]>).map((r) => r[0]).sort()
  t.alike(await names('/a'), ['1', '2', '3'])
  t.alike(await names('/b'), ['1', '2', '3'])
  t.alike([await kept('/a'), await kept('/b')], [true, true], '6 entries kept')
  t.alike(await names('/c'), ['1', '2', '3'])
  t.alike([await kept('/a'), await kept('/b'), await kept('/c')], [false, true, true], 'a third listing: the oldest dropped')
  // A pending operation that grows a kept listing past the limit when flushed is not in the drive here, so only listings: all still right.
  view.apply([{ op: 'put', path: '/a/4', data: new Uint8Array(2), mtime: 1 }])
  t.alike(await names('/a'), ['1', '2', '3', '4'], 'a dropped listing is read again, pending operations applied')
  t.alike(await view.read('stat', '/b/2'), ['2', 'file', 2, (await cores.drive.entry('/b/2'))!.value.metadata?.mtime ?? 0, false], 'lookups answered from a kept listing')
})

test('files: a VM\'s archive caches 131,072 decoded blocks by default, not hyperbee\'s 65,536, or as many as asked', async (t) => {
  // With 65,536, puts into a directory of 100,000 random names read blocks from disk: ~1,600 calls/s instead of ~3,400.
  type Cached = { _keyCache: { keys: { maxSize: number } }; _nodeCache: { keys: { maxSize: number } } }
  const { host } = await createHost(t, FS)
  const db = host.drive.db as unknown as Cached
  t.is(DEFAULT_FILES_CACHE_ENTRIES, 131072)
  t.is(db._keyCache.keys.maxSize, DEFAULT_FILES_CACHE_ENTRIES, 'keys (if hyperbee changed how it caches, see src/files/bee-cache.ts)')
  t.is(db._nodeCache.keys.maxSize, DEFAULT_FILES_CACHE_ENTRIES, 'and tree nodes')
  const { host: small } = await createHost(t, FS, { filesCacheEntries: 1000 })
  t.is((small.drive.db as unknown as Cached)._keyCache.keys.maxSize, 1000, 'filesCacheEntries')
})

test('files: a directory listed once is listed right by later isolates, whatever was written since', async (t) => {
  const { host } = await createHost(t, FS + `
exports.ls = async (dirs) => { const out = {}; for (const d of dirs) { try { out[d] = await f.readdir(d) } catch (err) { out[d] = err.code } } return out }`)
  const alice = Identity.generate()
  const call = async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  const dirs = ['/', '/d', '/d/sub', '/e']
  /** What readdir must say: the archive's own listing. */
  const truth = async () => {
    const out: Record<string, unknown> = {}
    for (const d of dirs) {
      const names = new Set<string>()
      let any = d === '/'
      for await (const e of host.drive.list(d) as AsyncIterable<{ key: string }>) {
        any = true
        const rest = e.key.slice(d === '/' ? 1 : d.length + 1)
        if (rest) names.add(rest.split('/')[0]!)
      }
      const marker = d === '/' ? null : await host.drive.entry(d)
      out[d] = any || marker ? [...names].sort() : 'ENOENT'
    }
    return out
  }
  const fresh = async () => { while (!(await host.unload())) await new Promise((resolve) => setTimeout(resolve, 5)) }
  const steps: unknown[][][] = [
    [['writeFile', '/d/a', '1'], ['writeFile', '/d/sub/x', '2'], ['mkdir', '/e']],
    [['writeFile', '/d/b', '3']], // a new file in a listed directory
    [['writeFile', '/d/a', '44']], // an overwrite
    [['mkdir', '/d/m']], // a marked directory
    [['writeFile', '/d/sub2/y', '5']], // a new implied directory
    [['unlink', '/d/b']], // a file gone
    [['unlink', '/d/sub/x']], // an implied directory's last file gone
    [['rmdir', '/d/m']], // a marked directory gone
    [['writeFile', '/e/z', '6'], ['unlink', '/e/z']] // in and out in one call
  ]
  for (const [i, batch] of steps.entries()) {
    await call('run', batch)
    t.alike(await call('ls', dirs), await truth(), `after step ${i}, in the isolate that wrote`)
    await fresh()
    t.alike(await call('ls', dirs), await truth(), `after step ${i}, in a fresh isolate (listings the host kept, moved forward)`)
  }
  t.ok((await replay(host.logAndFiles())).ok, 'and the log replays')
})

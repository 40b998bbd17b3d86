import test from 'brittle'
import b4a from 'b4a'
import id from 'hypercore-id-encoding'
import Corestore from 'corestore'
import { readFileSync } from 'node:fs'
import { Identity, replay, VmHost, EntryType, SANDBOX_API_VERSION } from '../src/index.js'
import { createHost, entries } from './helpers/index.js'
import { checkSignedCore, rebuildVm, type SignedVm } from '../src/audit/signed-cores.js'
import type { CallEntry, Genesis } from '../src/messages/index.js'

// Runs file operations as a script would, and reports each outcome as JSON:
// bytes as { bytes }, an error as 'E:' + its code, or its name when it has none.
const STEPS = `
const f = System.files
exports.run = async (steps) => {
  const out = []
  for (const [op, ...args] of steps) {
    try {
      if (args[1] && Array.isArray(args[1].bytes)) args[1] = new Uint8Array(args[1].bytes)
      const r = await f[op](...args)
      out.push(r instanceof Uint8Array ? { bytes: Array.from(r) } : r === undefined ? null : r)
    } catch (err) {
      out.push('E:' + (err.code || err.name))
    }
  }
  return out
}
exports.fill = async (path, n) => { await f.writeFile(path, 'x'.repeat(n)) }
exports.statShape = async (path) => {
  const s = await f.stat(path)
  return { keys: Object.keys(s).sort(), file: s.isFile(), dir: s.isDirectory(), mtimeIsDate: s.mtime instanceof Date, json: JSON.parse(JSON.stringify(s)) }
}
`

async function runner(host: VmHost) {
  const alice = Identity.generate()
  return {
    run: async (steps: unknown[][]) => (await host.call(alice.sign(host.key, 'run', [steps]))).result as unknown[],
    call: async (method: string, ...args: unknown[]) => (await host.call(alice.sign(host.key, method, args))).result
  }
}

test('sandbox API 2: new VMs get System.files with the DatArchive semantics NodeVMS scripts expect', async (t) => {
  const { host } = await createHost(t, STEPS)
  const { run, call } = await runner(host)
  const genesis = (await entries(host.log))[0] as Genesis
  t.is(genesis.apiVersion, 2, 'the genesis records sandbox API version 2')
  t.is(SANDBOX_API_VERSION, 2)

  t.alike(await run([
    ['writeFile', '/t.txt', 'héllo'], ['readFile', '/t.txt'], ['readFile', '/t.txt', { encoding: 'utf8' }], ['readFile', '/t.txt', 'utf-8'],
    ['readFile', '/t.txt', 'base64'], ['readFile', '/t.txt', { encoding: 'hex' }], ['readFile', '/t.txt', 'binary'], ['readFile', '/t.txt', {}],
    ['readFile', '/t.txt', 'latin1']
  ]), [
    null, 'héllo', 'héllo', 'héllo',
    'aMOpbGxv', '68c3a96c6c6f', { bytes: [104, 195, 169, 108, 108, 111] }, 'héllo',
    'E:TypeError'
  ], 'readFile gives a utf8 string by default; base64, hex and binary as asked; an unknown encoding is refused')

  t.alike(await run([
    ['writeFile', '/b', 'AP8B', 'base64'], ['readFile', '/b', 'hex'],
    ['writeFile', '/b', '_-8', { encoding: 'base64' }], ['readFile', '/b', 'hex'],
    ['writeFile', '/b', 'AP 8B\n', 'base64'], ['readFile', '/b', 'base64'],
    ['writeFile', '/b', 'ff00', { encoding: 'hex' }], ['readFile', '/b', 'binary'],
    ['writeFile', '/b', { bytes: [1, 2] }], ['readFile', '/b', 'base64'],
    ['writeFile', '/b', { bytes: [1, 2, 3] }, 'binary'], ['readFile', '/b', 'base64'],
    ['writeFile', '/b', 'x', 'binary'], ['writeFile', '/b', { bytes: [1] }, 'utf8'], ['writeFile', '/b', 'A*', 'base64'], ['writeFile', '/b', 'A', 'base64'],
    ['readFile', '/b', 'hex']
  ]), [
    null, '00ff01',
    null, 'ffef',
    null, 'AP8B',
    null, { bytes: [255, 0] },
    null, 'AQI=',
    null, 'AQID',
    'E:TypeError', 'E:TypeError', 'E:TypeError', 'E:TypeError',
    '010203'
  ], 'writeFile takes utf8, base64 (either alphabet) and hex strings, and bytes; a mismatched encoding writes nothing')

  t.alike(await run([
    ['mkdir', '/d'], ['writeFile', '/d/e/f.txt', 'deep'], ['writeFile', '/d/g.txt', 'g'], ['writeFile', '/d.txt', '.'],
    ['readdir', '/'], ['readdir', '/', { recursive: true }], ['readdir', '/d', { recursive: true }]
  ]), [
    null, null, null, null,
    ['b', 'd', 'd.txt', 't.txt'], ['b', 'd', 'd/e', 'd/e/f.txt', 'd/g.txt', 'd.txt', 't.txt'], ['e', 'e/f.txt', 'g.txt']
  ], 'readdir lists names; recursive lists every path beneath, depth first')

  const listed = (await run([['readdir', '/d', { stat: true, recursive: true }]]))[0] as Array<{ name: string; stat: Record<string, unknown> }>
  const written = new Date(await callTime(host, 4)).toISOString() // the third call wrote /d/e/f.txt (entries: genesis, load, calls)
  t.alike(listed.map((e) => e.name), ['e', 'e/f.txt', 'g.txt'])
  t.alike(listed[1]!.stat, { size: 4, blocks: 1, downloaded: 1, mtime: written, ctime: written }, 'readdir { stat } gives each name with its stat, times as ISO strings')
  t.alike(listed[0]!.stat, { size: 0, blocks: 0, downloaded: 0, mtime: new Date(0).toISOString(), ctime: new Date(0).toISOString() }, 'a directory no mkdir made has no time')

  t.alike(await call('statShape', '/t.txt'), {
    keys: ['blocks', 'ctime', 'downloaded', 'mtime', 'size'], file: true, dir: false, mtimeIsDate: true,
    json: { size: 6, blocks: 1, downloaded: 1, mtime: new Date(await callTime(host, 2)).toISOString(), ctime: new Date(await callTime(host, 2)).toISOString() }
  }, 'stat has DatArchive\'s fields, and isFile()/isDirectory() that JSON leaves out')
  await call('fill', '/big', 65537)
  t.alike((await run([['stat', '/big']]))[0], { size: 65537, blocks: 2, downloaded: 2, mtime: new Date(await callTime(host, 7)).toISOString(), ctime: new Date(await callTime(host, 7)).toISOString() }, 'blocks count 64 KiB blocks')

  t.alike(await run([['rmdir', '/d'], ['rmdir', '/d', { recursive: true }], ['readdir', '/'], ['stat', '/d/e/f.txt']]),
    ['E:ENOTEMPTY', null, ['b', 'big', 'd.txt', 't.txt'], 'E:ENOENT'], 'rmdir { recursive } removes a directory and all it holds')
  const paths: string[] = []
  for await (const e of host.drive.list('/')) paths.push(e.key)
  t.alike(paths.sort(), ['/b', '/big', '/d.txt', '/t.txt'], 'the archive holds nothing under it')

  const info = await call('run', [['getInfo']]) as [Record<string, unknown>]
  t.alike(info[0], {
    key: b4a.toString(host.drive.key, 'hex'), url: 'hyper://' + id.encode(host.drive.key), isOwner: true,
    version: host.drive.db.core.length, peers: 0, mtime: 0, size: 0, title: 'script.js files'
  }, 'getInfo has DatArchive\'s shape')

  const report = await replay(host.logAndFiles())
  t.ok(report.ok, 'it all replays clean')
})

test('sandbox API 1: a VM made with version 1 keeps its semantics, after a restart too', async (t) => {
  const dir = await t.tmp()
  let host = await VmHost.create(dir, { script: STEPS, apiVersion: 1 })
  const steps = [
    ['writeFile', '/d/t.txt', 'hi'], ['readFile', '/d/t.txt'], ['readFile', '/d/t.txt', 'base64'],
    ['readdir', '/', { recursive: true }], ['rmdir', '/d', { recursive: true }], ['getInfo']
  ]
  const expected = (version: number) => [
    null, { bytes: [104, 105] }, 'E:TypeError',
    ['d'], 'E:ENOTEMPTY', { key: id.encode(host.drive.key), version }
  ]
  let { run, call } = await runner(host)
  t.is(((await entries(host.log))[0] as Genesis).apiVersion, 1, 'the genesis records version 1')
  t.alike(await run(steps), expected(host.drive.db.core.length))
  t.alike((await call('statShape', '/d/t.txt') as { keys: string[] }).keys, ['isDirectory', 'isFile', 'mtime', 'size'])
  await host.close()
  host = await VmHost.open(dir)
  t.teardown(() => host.close())
  ;({ run, call } = await runner(host))
  t.alike(await run(steps), expected(host.drive.db.core.length), 'reopened, it is still version 1')
  t.ok((await replay(host.logAndFiles())).ok, 'and replays clean as version 1')
})

test('sandbox API 1: a log made by vms-node before version 2 existed replays clean (NodeVMS\'s counter gives 1, then 50)', async (t) => {
  const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/sandbox-api-1-log.json', import.meta.url), 'utf8')) as SignedVm & { vmKey: string; made: string }
  const vmKey = b4a.from(fixture.vmKey, 'hex')
  t.is(checkSignedCore('log', fixture.log, vmKey), null, 'the log is the host\'s, as signed')
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  const { log, drive } = await rebuildVm(store, fixture)
  t.teardown(() => drive.close())
  const logged = await entries(log)
  const genesis = logged[0] as Genesis
  t.is(genesis.apiVersion, 1)
  t.is(checkSignedCore('files', fixture.db, genesis.filesKey), null, 'the files archive is the one the genesis names')
  const incs = logged.filter((e): e is CallEntry => e.type === EntryType.CALL && e.method === 'inc')
  t.alike(incs.slice(0, 2).map((e) => b4a.toString(e.outcome.value)), ['1', '50'], 'readFile gave bytes: the second inc logged 50')
  const report = await replay({ log, drive }, { keys: { vm: vmKey, files: genesis.filesKey } })
  t.ok(report.ok, `replayed clean: ${report.divergence?.message ?? report.inconclusive ?? ''}`)
  t.is(report.calls, logged.filter((e) => e.type === EntryType.CALL).length, 'every call re-run')
})

test('sandbox API: a version this vms-node does not run is refused before anything is made', async (t) => {
  for (const apiVersion of [0, 3, 1.5, '2' as unknown as number]) {
    const dir = await t.tmp()
    const err = await VmHost.create(dir, { script: STEPS, apiVersion }).then(() => null, (e) => e)
    t.is(err?.code, 'BAD_OPTION', `apiVersion ${JSON.stringify(apiVersion)}: ${err?.message}`)
  }
})

/** The logged time of entry `index`. */
async function callTime(host: VmHost, index: number): Promise<number> {
  const e = (await entries(host.log))[index]!
  return e.type === EntryType.GENESIS ? 0 : e.time
}

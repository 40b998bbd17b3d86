import test, { type Test } from 'brittle'
import b4a from 'b4a'
import { spawn } from 'node:child_process'
import Corestore from 'corestore'
import { VmHost, Identity, replay, EntryType, LoadReason } from '../src/index.js'
import { RSVP, openCores, entries, smallDisk, renameFileBlock, CAN_MOUNT } from './helpers/index.js'
import { onLines } from './helpers/cli.js'

const BUSY = new URL('./fixtures/busy-host.js', import.meta.url)

test('reopening storage reopens the same VM: same key, a load entry, init runs, state kept', async (t) => {
  const dir = await t.tmp()
  const first = await VmHost.create(dir, { script: RSVP })
  const key = first.key
  const alice = Identity.generate()
  await first.call(alice.sign(key, 'RSVP', [true]))
  await first.close()
  const again = await VmHost.open(dir)
  t.alike(again.key, key)
  const list = await entries(again.log)
  const last = list[list.length - 1]!
  t.is(last.type, EntryType.LOAD)
  if (last.type === EntryType.LOAD) {
    t.is(last.reason, LoadReason.RESTART)
    t.ok(last.outcome.ok, 'init ran')
  }
  t.alike((await again.call(alice.sign(key, 'list', []))).result, [alice.id + '.json'])
  await again.close()
  const other = await VmHost.create(dir, { script: 'exports.a = async () => 1' }).catch((e) => e)
  t.is(other.code, 'STORAGE_INVALID', 'another script cannot take over the storage')
  t.is(other.reason, 'another-script')
})

test('an auditor sees a commit cut short (files written, log not) as files the log does not account for', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true]))
  await host.close()
  {
    // What a crash between the files append and the log append leaves behind.
    const cores = await openCores(t, dir)
    await cores.drive.put('/rsvps/unanswered.json', 'x')
    await cores.drive.put('/rsvps/unanswered2.json', 'y')
    t.is((await replay(cores)).divergence?.class, 'files-tampered', 'before the restart the archive is ahead of the log')
  }
})

test('files written outside the log are not served: a reopen refuses them, naming what differs', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true]))
  await host.close()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  await cores.drive.put('/rsvps/unlogged.json', 'x')
  await closeVmCores(cores)
  const err = await VmHost.open(dir).catch((e) => e)
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(/not what log entry 2 commits to \(its hyperbee has 4 blocks, the entry says 3; its blobs core has 2 blocks, the entry says 1\).*redo journal does not explain it.*Restore its storage from a mirror/.test(err.message), err.message)
  const again = await VmHost.open(dir).catch((e) => e)
  t.is(again.code, 'STORAGE_INVALID', 'and again: nothing was taken back (the host never truncates files it signed)')
})

test('an archive changed while the host was stopped (same length, other contents) is refused at reopen', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'RSVP', [true, 'yes']))
  await host.call(Identity.generate().sign(host.key, 'RSVP', [false, 'no']))
  await host.close()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  const db = cores.drive.db.core
  await renameFileBlock(db, db.length - 1, '/rsvps/forged.json')
  await closeVmCores(cores)
  const err = await VmHost.open(dir).catch((e) => e)
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(/its hyperbee's tree hash is [0-9a-f]{16}…, the entry says [0-9a-f]{16}…/.test(err.message), err.message)
})

test('a log append lost after its files were appended is finished at restart: the entries come from the redo journal', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'RSVP', [true, 'first']))
  const log = host.log as unknown as { append: unknown }
  log.append = () => Promise.reject(new Error('I/O error')) // the disk fails under the log's append
  const err = await host.call(alice.sign(host.key, 'RSVP', [false, 'second'])).catch((e) => e)
  t.is(err.code, 'STORAGE_FAILED')
  const index = Number(/logs it as entry (\d+), from the redo journal/.exec(err.message)?.[1])
  t.is(index, 3, err.message)
  t.is(host.log.length, 3, 'its entry is not in the log')
  t.ok(await host.drive.get('/rsvps/' + alice.id + '.json'), 'its files are in the archive (ahead of the log)')
  delete log.append
  await host.close()
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  const list = await entries(again.log)
  const call = list[index]!
  t.ok(call.type === EntryType.CALL && call.method === 'RSVP', 'the call is logged at the entry it was told')
  const load = list[list.length - 1]!
  t.ok(load.type === EntryType.LOAD && load.note.includes('logged 1 entries from the redo journal'), load.type === EntryType.LOAD ? load.note : '')
  t.alike(JSON.parse(b4a.toString((await again.drive.get('/rsvps/' + alice.id + '.json'))!)), { isAttending: false, reason: 'second' })
  t.ok((await replay(again.logAndFiles())).ok, 'and the log replays clean')
})

test('a redo record of an earlier vms-node (files only) still takes back what its group appended past the log', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true]))
  const path = (await import('../src/host/vm-storage.js')).redoJournalPath({ store: host.store, log: host.log } as never)
  await host.close()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  const db = cores.drive.db.core
  const blobs = (await cores.drive.getBlobs()).core
  const dbStart = db.length
  const blobsStart = blobs.length
  await cores.drive.put('/rsvps/cut-short.json', 'x') // the group's files, appended before the crash
  const dbBlocks = [(await db.get(dbStart))!]
  const blobBlocks = [(await blobs.get(blobsStart))!]
  await closeVmCores(cores)
  await writeVersion1Record(path, { dbStart, blobsStart, dbBlocks, blobBlocks })
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  const list = await entries(again.log)
  const load = list[list.length - 1]!
  t.ok(load.type === EntryType.LOAD && load.note.includes('rolled back 1 file entries and 1 blob blocks'), load.type === EntryType.LOAD ? load.note : '')
  t.is(await again.drive.get('/rsvps/cut-short.json'), null)
  t.ok((await replay(again.logAndFiles())).ok, 'and the log replays clean')
})

/** A redo record as vms-node before 0.2 wrote it: version 1, files only, one file. */
async function writeVersion1Record(path: string, r: { dbStart: number; blobsStart: number; dbBlocks: Uint8Array[]; blobBlocks: Uint8Array[] }): Promise<void> {
  const c = (await import('compact-encoding')).default
  const crypto = (await import('hypercore-crypto')).default
  const { writeFile, mkdir, rm } = await import('node:fs/promises')
  const list = c.array(c.buffer)
  type S = Parameters<typeof c.uint.encode>[0]
  const enc = { preencode: (s: S, m: typeof r) => { c.uint.preencode(s, 1); c.uint.preencode(s, m.dbStart); c.uint.preencode(s, m.blobsStart); list.preencode(s, m.dbBlocks); list.preencode(s, m.blobBlocks) },
    encode: (s: S, m: typeof r) => { c.uint.encode(s, 1); c.uint.encode(s, m.dbStart); c.uint.encode(s, m.blobsStart); list.encode(s, m.dbBlocks); list.encode(s, m.blobBlocks) },
    decode: () => { throw new Error('not read here') } }
  const payload = c.encode(enc as never, r)
  const head = b4a.alloc(36)
  head.writeUInt32LE(payload.byteLength, 0)
  crypto.hash(payload, head.subarray(4))
  await mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true })
  await writeFile(path, b4a.concat([head, payload]))
  await rm(path + '.1', { force: true }) // that vms-node kept one file
}

/**
 * What a crash after a group's log append and before its files append leaves
 * behind: the log commits to files the drive lacks. `lose` says which of the
 * drive's two cores lost the group's last blocks.
 */
async function logAheadOfFiles(t: Test, lose: { db: boolean; blobs: boolean }): Promise<{ dir: string; callerId: string }> {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'RSVP', [true, 'first']))
  await host.call(alice.sign(host.key, 'RSVP', [false, 'the last word']))
  await host.close()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  const db = cores.drive.db.core
  const blobs = (await cores.drive.getBlobs()).core
  if (lose.db) await db.truncate(db.length - 1)
  if (lose.blobs) await blobs.truncate(blobs.length - 1)
  t.absent((await replay(cores)).ok, 'before the restart the log is ahead of the archive')
  await closeVmCores(cores)
  return { dir, callerId: alice.id }
}

for (const lose of [{ db: true, blobs: true }, { db: false, blobs: true }, { db: true, blobs: false }]) {
  test(`a crash after the log append, before the files append (lost: ${lose.db ? 'entries ' : ''}${lose.blobs ? 'contents' : ''}), is finished at restart from the redo journal`, async (t) => {
    const { dir, callerId } = await logAheadOfFiles(t, lose)
    const again = await VmHost.open(dir)
    t.teardown(() => again.close())
    const list = await entries(again.log)
    const load = list[list.length - 1]!
    const expected = `appended ${lose.db ? 1 : 0} file entries and ${lose.blobs ? 1 : 0} blob blocks from the redo journal`
    t.ok(load.type === EntryType.LOAD && load.note.includes(expected), 'the load entry says what was finished: ' + (load.type === EntryType.LOAD ? load.note : ''))
    t.alike(JSON.parse(b4a.toString((await again.drive.get('/rsvps/' + callerId + '.json'))!)), { isAttending: false, reason: 'the last word' }, 'the answered call\'s file is back')
    t.ok((await replay(again.logAndFiles())).ok, 'and the log replays clean')
  })
}

test('a redo record that does not fit the archive is refused with what to do', async (t) => {
  const { dir } = await logAheadOfFiles(t, { db: true, blobs: true })
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  await cores.drive.db.core.truncate(cores.drive.db.core.length - 1) // one block more than the record holds
  await closeVmCores(cores)
  const err = await VmHost.open(dir).catch((e) => e)
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(/redo journal's hyperbee blocks start at \d+, not at \d+.*restore it from a mirror/.test(err.message), err.message)
})

test('an archive append that fails after the log append: refused with its receipt, the VM stops, a reopen finishes it', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  await host.call(alice.sign(host.key, 'RSVP', [true, 'first']))
  const db = host.drive.db.core as unknown as { append: unknown }
  db.append = () => Promise.reject(new Error('disk full')) // the disk fails under the hyperbee's append
  const err = await host.call(alice.sign(host.key, 'RSVP', [false, 'second'])).catch((e) => e)
  t.is(err.code, 'STORAGE_FAILED')
  t.ok(/ran and is logged \(entry \d+\).*disk full.*redo journal/.test(err.message), err.message)
  const index = err.receipt.index as number
  t.is(host.log.length, index + 1, 'its entry is in the log')
  t.is((await host.call(alice.sign(host.key, 'RSVP', [true, 'third'])).catch((e) => e)).code, 'STORAGE_FAILED', 'the VM stopped')
  delete db.append
  await host.close()
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  const list = await entries(again.log)
  const load = list[list.length - 1]!
  t.ok(load.type === EntryType.LOAD && load.note.includes('appended 1 file entries and 0 blob blocks from the redo journal'), load.type === EntryType.LOAD ? load.note : '')
  t.alike(JSON.parse(b4a.toString((await again.drive.get('/rsvps/' + alice.id + '.json'))!)), { isAttending: false, reason: 'second' }, 'the logged call\'s file is there')
  t.ok((await replay(again.logAndFiles())).ok, 'and the log replays clean')
})

test('a full disk: the call is refused saying so, nothing answered is lost, and with space again a reopen finishes the commit', { skip: !CAN_MOUNT }, async (t) => {
  const disk = await smallDisk(t, 6)
  if (!disk) {
    t.comment('cannot mount a small disk here: nothing to check')
    t.pass()
    return
  }
  const storage = disk.dir + '/vm'
  const logs: string[] = []
  const host = await VmHost.create(storage, { script: `exports.big = async (i) => { await System.files.writeFile('/f' + i, 'x'.repeat(200000)) }`, onLog: (level, message) => logs.push(level + ': ' + message) })
  t.teardown(() => host.close()) // (closed in the test; here too if it fails first)
  const alice = Identity.generate()
  const answered: number[] = []
  let err: (Error & { code?: string; receipt?: { index: number } }) | null = null
  for (let i = 0; i < 100 && !err; i++) {
    await host.call(alice.sign(host.key, 'big', [i])).then(() => answered.push(i), (e) => { err = e })
  }
  t.ok(err, `the disk filled up after ${answered.length} calls`)
  const e = err as unknown as Error & { code?: string }
  t.is(e.code, 'STORAGE_FAILED')
  t.ok(/No space left on device; the disk is full: free some space/.test(e.message), e.message)
  t.is((await host.call(alice.sign(host.key, 'big', [1000])).catch((x) => x)).code, 'STORAGE_FAILED', 'the VM stopped')
  t.is(logs.filter((l) => l.startsWith('error: the VM stopped: ') && l.includes('the disk is full') && l.includes('restart serving it')).length, 1, 'the operator\'s log says so, once: ' + logs.join(' | '))
  await host.close()
  disk.grow(64)
  const again = await VmHost.open(storage)
  t.teardown(() => again.close())
  for (const i of answered) {
    if ((await again.drive.entry('/f' + i)) === null) t.fail(`answered call ${i} lost its file`)
  }
  const report = await replay(again.logAndFiles())
  t.ok(report.ok, 'the log replays clean')
  t.ok(report.calls >= answered.length, `every answered call is in the log (${report.calls} calls logged, ${answered.length} answered)`)
})

test('a log ahead of the archive with no redo journal is refused with what to do', async (t) => {
  const { dir } = await logAheadOfFiles(t, { db: true, blobs: true })
  const { rm } = await import('node:fs/promises')
  await rm(dir + '/vms-redo', { recursive: true })
  const err = await VmHost.open(dir).catch((e) => e)
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(/shorter than the log.*redo journal.*restore it from a mirror/.test(err.message), err.message)
})

test('kill -9 under load: every answered call survives, nothing half-committed', async (t) => {
  const dir = await t.tmp()
  for (const [round, after] of [[0, 40], [1, 150], [2, 300]] as const) {
    const answered = await runAndKill(dir, after)
    t.ok(answered.length > 0, `round ${round}: ${answered.length} calls answered before the kill`)
    const cores = await openCores(t, dir)
    const list = await entries(cores.log)
    let lost = 0
    for (const a of answered) {
      const e = list[a.index]
      if (!e || e.type !== EntryType.CALL || b4a.toString(e.nonce, 'hex') !== a.nonce) lost++
    }
    t.is(lost, 0, `round ${round}: no answered call lost`)
    const { closeVmCores } = await import('../src/host/vm-storage.js')
    await closeVmCores(cores)
    // Reopen as a host (finishes an interrupted commit from the redo journal), then audit everything.
    const host = await VmHost.open(dir)
    t.is(host.drive.db.core.fork + (await host.drive.getBlobs()).core.fork + host.log.fork, 0, `round ${round}: nothing the host signed was taken back (no core forked)`)
    const report = await replay(host.logAndFiles())
    await host.close()
    t.ok(report.ok, `round ${round}: the log replays clean after restart (${report.calls} calls)`)
  }
})

/** Run a busy host and kill -9 it once `after` calls were answered (mid-commit, most likely). */
async function runAndKill(dir: string, after: number): Promise<Array<{ index: number; nonce: string }>> {
  const child = spawn(process.execPath, [BUSY.pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const answered: Array<{ index: number; nonce: string }> = []
  let enough: () => void
  const isEnough = new Promise<void>((resolve, reject) => {
    enough = resolve
    // A child that exits early fails the test instead of leaving it waiting.
    child.on('exit', (code) => { if (answered.length < after) reject(new Error(`the busy host exited (${code}) after ${answered.length} calls`)) })
  })
  onLines(child.stdout, (line) => {
    if (line === 'ready') return
    answered.push(JSON.parse(line))
    if (answered.length === after) enough()
  })
  await isEnough
  const exited = new Promise((r) => child.on('exit', r))
  child.kill('SIGKILL')
  await exited
  return answered
}

test('the redo journal keeps the two latest records in two files; a torn write leaves the one before it', async (t) => {
  const { RedoJournal } = await import('../src/host/redo-journal.js')
  const { truncate, stat } = await import('node:fs/promises')
  const path = (await t.tmp()) + '/journal/vm'
  const journal = RedoJournal.open(path)
  t.teardown(() => journal.close())
  t.is(journal.read(), null, 'a new journal holds nothing')
  const big = { dbStart: 3, blobsStart: 7, dbBlocks: [b4a.from('entry 1'), b4a.from('entry 2')], blobBlocks: [b4a.alloc(1000, 1)], logStart: 4, logStartHash: b4a.alloc(32, 4), logBlocks: [b4a.from('log 4')] }
  const small = { dbStart: 5, blobsStart: 8, dbBlocks: [b4a.from('entry 3')], blobBlocks: [], logStart: 5, logStartHash: b4a.alloc(32, 5), logBlocks: [] }
  journal.write(big)
  journal.write(small)
  t.alike(journal.read(), { ...small, seq: 2 }, 'the latest record is read (numbered)')
  journal.write(big)
  journal.write(small)
  t.alike(journal.read(), { ...small, seq: 4 }, 'a shorter record replaces a longer one')
  await truncate(path, (await stat(path)).size - 1)
  t.alike(journal.read(), { ...big, seq: 3 }, 'a record cut short fails its hash: the one before it, in the other file, is read')
  await truncate(path + '.1', 0)
  t.is(journal.read(), null, 'both cut short: none')
  journal.close()
  const reopened = RedoJournal.open(path)
  t.teardown(() => reopened.close())
  reopened.write(small)
  t.alike(reopened.read(), { ...small, seq: 1 }, 'reopened, it numbers on from the latest whole record')
})

test('the host\'s cores keep the bitfield pages they wrote; what is on disk stays right, across pages and after a truncation', async (t) => {
  const dir = await t.tmp()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  const log = cores.log
  const PAGE = 32768 // blocks per bitfield page
  const blocks = (n: number) => Array.from({ length: n }, (_, i) => b4a.from([i & 255]))
  for (let n = 0; n < 2 * PAGE + 100; n += 8192) await log.append(blocks(Math.min(8192, 2 * PAGE + 100 - n)))
  const stats = (cores.store as unknown as { storage: { db: { _state: { stats: { readBatches: number } } } } }).storage.db._state.stats
  const reads = stats.readBatches
  await log.append(blocks(10))
  t.is(stats.readBatches, reads, 'an append reads no bitfield page from disk')
  await log.truncate(PAGE + 10)
  await log.append(blocks(50))
  await log.append(blocks(PAGE)) // onto the page the truncation deleted
  const length = log.length
  t.is(length, 2 * PAGE + 60)
  await closeVmCores(cores)

  // A plain Corestore (nothing patched) reads the bitfield from disk.
  const store = new Corestore(dir)
  t.teardown(() => store.close())
  const plain = store.get({ name: 'vms-log' })
  await plain.ready()
  t.is(plain.length, length)
  t.is(plain.contiguousLength, length, 'every block is marked held on disk')
  const held = []
  for (const i of [0, PAGE - 1, PAGE, PAGE + 9, PAGE + 10, 2 * PAGE, length - 1]) held.push(await plain.has(i))
  t.alike(held, [true, true, true, true, true, true, true], 'held on all three pages, before and after the truncation point')
  t.absent(await plain.has(length), 'nothing past the end')
  // Every bit of the pages as stored: all blocks held, none past the end (a stale page would leave holes or extra bits).
  const storage = (plain as unknown as { state: { storage: { read(): { getBitfieldPage(i: number): Promise<Uint8Array | null>; tryFlush(): void } } } }).state.storage
  const rx = storage.read()
  const pending = [0, 1, 2, 3].map((i) => rx.getBitfieldPage(i))
  rx.tryFlush()
  const pages = await Promise.all(pending)
  const bit = (i: number) => { const page = pages[Math.floor(i / PAGE)]; const j = i % PAGE; return !!page && (page[j >> 3]! & (1 << (j & 7))) !== 0 }
  let missing = 0
  let extra = 0
  for (let i = 0; i < length; i++) if (!bit(i)) missing++
  for (let i = length; i < 4 * PAGE; i++) if (bit(i)) extra++
  t.is(missing, 0, 'every block is marked held in the bitfield on disk')
  t.is(extra, 0, 'no block past the end is marked held')
  t.alike(await plain.get(length - 1), b4a.from([(PAGE - 1) & 255]))
})

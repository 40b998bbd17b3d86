import test from 'brittle'
import b4a from 'b4a'
import { spawn } from 'node:child_process'
import { VmHost, Identity, replay, EntryType, LoadReason } from '../src/index.js'
import { RSVP, openCores, entries } from './helpers/index.js'

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

test('a commit cut short is rolled back at restart (reopen)', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true]))
  await host.close()
  const { openVmCores, closeVmCores } = await import('../src/host/vm-storage.js')
  const cores = await openVmCores(dir)
  await cores.drive.put('/rsvps/unanswered.json', 'x')
  await closeVmCores(cores)
  const again = await VmHost.open(dir)
  t.teardown(() => again.close())
  const list = await entries(again.log)
  const load = list[list.length - 1]!
  t.ok(load.type === EntryType.LOAD && load.note.includes('rolled back 1 file entries and 1 blob blocks'), 'the load entry says what was rolled back')
  t.is(await again.drive.get('/rsvps/unanswered.json'), null)
  t.ok((await replay(again.logAndFiles())).ok, 'and the log replays clean')
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
    // Reopen as a host (rolls back an interrupted commit), then audit everything.
    const host = await VmHost.open(dir)
    const report = await replay(host.logAndFiles())
    await host.close()
    t.ok(report.ok, `round ${round}: the log replays clean after restart (${report.calls} calls)`)
  }
})

/** Run a busy host and kill -9 it once `after` calls were answered (mid-commit, most likely). */
async function runAndKill(dir: string, after: number): Promise<Array<{ index: number; nonce: string }>> {
  const child = spawn(process.execPath, [BUSY.pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const answered: Array<{ index: number; nonce: string }> = []
  let buf = ''
  let enough: () => void
  const isEnough = new Promise<void>((r) => { enough = r })
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line === 'ready') continue
      answered.push(JSON.parse(line))
      if (answered.length === after) enough()
    }
  })
  await isEnough
  const exited = new Promise((r) => child.on('exit', r))
  child.kill('SIGKILL')
  await exited
  return answered
}

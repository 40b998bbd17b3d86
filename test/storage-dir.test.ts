import test from 'brittle'
import { readdir, writeFile, mkdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { VmHost, VmsNode, formatKey, type VmsError } from '../src/index.js'
import { openVmCores } from '../src/host/vm-storage.js'
import Corestore from 'corestore'
import { RSVP } from './helpers/index.js'
import { runCli } from './helpers/cli.js'

/** A directory of someone's own files (what a mistyped storage path points at). */
async function someonesFiles(dir: string): Promise<string[]> {
  await writeFile(dir + '/notes.txt', 'mine')
  await mkdir(dir + '/src')
  await writeFile(dir + '/src/app.js', 'console.log(1)')
  return (await readdir(dir)).sort()
}

test('storage: log and replay of a directory that is not a storage refuse it and touch nothing in it', async (t) => {
  const dir = await t.tmp()
  const before = await someonesFiles(dir)
  for (const cmd of ['log', 'replay']) {
    const res = await runCli([cmd, dir])
    t.is(res.code, cmd === 'replay' ? 2 : 1, `${cmd} fails (replay: 2, could not finish)`)
    t.ok(res.err.includes(`${dir} is not a vms-node storage`) && res.err.includes('nothing in it was touched'), res.err.trim())
  }
  t.alike((await readdir(dir)).sort(), before, 'its files are where they were (opened as a Corestore, they went into db/)')
  t.is(await readFile(dir + '/src/app.js', 'utf8'), 'console.log(1)')
})

test('storage: creating a VM or a node in a directory of other files is refused, nothing moved', async (t) => {
  const dir = await t.tmp()
  const before = await someonesFiles(dir)
  const created = await VmHost.create(dir, { script: RSVP }).catch((err: VmsError) => err)
  t.is((created as VmsError).code, 'STORAGE_INVALID')
  t.ok((created as VmsError).message.includes('give a new or empty directory'), (created as VmsError).message)
  const node = new VmsNode({ storage: dir })
  const opened = await node.ready().catch((err: VmsError) => err)
  t.is((opened as VmsError).code, 'STORAGE_INVALID', 'a node too')
  await node.close().catch(() => {})
  const served = await runCli(['serve', '--storage', dir, '--bootstrap', '127.0.0.1:9'])
  t.is(served.code, 1, 'and serve --storage')
  t.ok(served.err.includes('holds other files and is not a vms-node storage'), served.err.trim())
  t.alike((await readdir(dir)).sort(), before, 'nothing moved, nothing added')
})

test('storage: opening a VM where none is makes nothing; new, empty and existing storages open as before', async (t) => {
  const base = await t.tmp()
  const missing = await VmHost.open(base + '/nope').catch((err: VmsError) => err)
  t.is((missing as VmsError).code, 'STORAGE_INVALID')
  t.absent(existsSync(base + '/nope'), 'no storage is made where no VM was')
  const fresh = await VmHost.create(base + '/new', { script: RSVP })
  await fresh.close()
  await mkdir(base + '/empty')
  const empty = await VmHost.create(base + '/empty', { script: RSVP })
  await empty.close()
  const again = await VmHost.open(base + '/new')
  t.alike(again.key, fresh.key, 'an existing storage reopens')
  await again.close()
})

test('storage: a storage another process holds is STORAGE_LOCKED, saying what to do', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  t.teardown(() => host.close())
  const logged = await runCli(['log', dir])
  t.is(logged.code, 1)
  t.ok(logged.err.includes(`STORAGE_LOCKED: ${dir} is in use by another vms-node process`) && logged.err.includes('stop that first'), logged.err.trim())
  const created = await runCli(['create', new URL('../../examples/rsvp.js', import.meta.url).pathname, '--storage', dir])
  t.is(created.code, 1)
  t.ok(created.err.includes('STORAGE_LOCKED'), created.err.trim())
  const node = new VmsNode({ storage: dir })
  const opened = await node.ready().catch((err: VmsError) => err)
  t.is((opened as VmsError).code, 'STORAGE_LOCKED', 'a node on it too')
  await node.close().catch(() => {})
})

test('storage: a VM open in this process cannot be opened a second time (it would append behind the first one\'s back)', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  t.teardown(() => host.close())
  const again = await VmHost.open(host.store).catch((err: VmsError) => err) as VmsError
  t.is(again.code, 'STORAGE_LOCKED')
  t.ok(again.message.includes('already open in this process'), again.message)
  const other = await VmHost.create(host.store, { script: 'exports.other = () => 1' }).catch((err: VmsError) => err) as VmsError
  t.is(other.code, 'STORAGE_LOCKED', 'with another script too (this hung)')
  await host.close()
  const reopened = await VmHost.open(dir)
  t.alike(reopened.key, host.key, 'once closed, it opens again')
  await reopened.close()
})

test('storage: a files archive that does not open: STORAGE_INVALID saying what to do, and everything opened is closed again', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const key = host.key
  await host.close()
  // Damage the archive's first block (hyperbee's header), as a bad disk could: the files core is truncated and rewritten.
  {
    const store = new Corestore(dir)
    const db = store.namespace('vms-files').get({ name: 'db' })
    await db.ready()
    await db.truncate(0)
    await db.append(Buffer.from('not a hyperbee header'))
    await store.close()
  }
  for (let i = 0; i < 2; i++) {
    const err = await VmHost.open(dir).then(() => null, (e: VmsError) => e)
    t.is(err?.code, 'STORAGE_INVALID', `opening it fails (try ${i + 1}: not STORAGE_LOCKED, so the first left nothing open)`)
    t.ok(err?.message.includes(`the files archive of VM ${formatKey(key)} in ${dir} does not open`) && err.message.includes('restore the VM from a mirror'), err?.message)
  }
  // Given an open Corestore instead, the store stays open (it is the caller's) and the VM's log is closed again.
  const store = new Corestore(dir)
  t.teardown(() => store.close())
  const err = await openVmCores(store, { existing: true }).then(() => null, (e: VmsError) => e)
  t.is(err?.code, 'STORAGE_INVALID')
  const log = store.get({ name: 'vms-log' })
  await log.ready()
  t.is(log.length > 0, true, 'the store is still open and its log readable')
  await log.close()
  const again = await openVmCores(store, { existing: true }).then(() => null, (e: VmsError) => e)
  t.is(again?.code, 'STORAGE_INVALID', 'and a second try in this process is not STORAGE_LOCKED')
})

test('storage: a copy of a storage is not hosted (it could fork the VM), but log and replay read it', async (t) => {
  const base = await t.tmp()
  const host = await VmHost.create(base + '/original', { script: RSVP })
  const { Identity } = await import('../src/index.js')
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'before the copy']))
  const length = host.log.length
  await host.close()
  const { cp } = await import('node:fs/promises')
  await cp(base + '/original', base + '/copy', { recursive: true })
  const hosted = await VmHost.open(base + '/copy').catch((err: VmsError) => err) as VmsError
  t.is(hosted.code, 'STORAGE_INVALID')
  t.ok(hosted.message.includes('is a copy of a storage') && hosted.message.includes('log and replay can read a copy'), hosted.message)
  const replayed = await runCli(['replay', base + '/copy', '--json'])
  t.is(replayed.code, 0, replayed.err)
  t.is(JSON.parse(replayed.out).calls, 1, 'the copy replays')
  t.ok(replayed.err.includes('is a copy of a storage: read it read-only'), replayed.err)
  const logged = await runCli(['log', base + '/copy'])
  t.is(logged.code, 0, logged.err)
  t.ok(logged.out.includes('RSVP'), 'and its log prints')
  const again = await VmHost.open(base + '/original')
  t.is(again.log.length, length + 1, 'the original still hosts (a load entry more)')
  await again.close()
})

import type { Test } from 'brittle'
import Corestore from 'corestore'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmHost, type VmHostOptions } from '../../src/index.js'
import { openVmCores, closeVmCores, type VmCores } from '../../src/host/vm-storage.js'
import { decodeEntry, type LogEntry } from '../../src/messages/index.js'
import { Node as BeeNode } from 'hyperbee/lib/messages.js'
import { filesKeyEncoding } from '../../src/files/entries.js'

export const RSVP = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (isAttending, reason = '') => {
  if (typeof isAttending !== 'boolean') throw new TypeError('isAttending must be true or false')
  await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ isAttending, reason }))
}
exports.list = async () => (await System.files.readdir('/rsvps')).sort()
`

/** A host on fresh storage, closed when the test ends. */
export async function createHost(t: Test, script: string, opts: Omit<VmHostOptions, 'script'> = {}): Promise<{ host: VmHost; dir: string }> {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { ...opts, script })
  t.teardown(() => host.close())
  return { host, dir }
}

/** The VM's cores opened straight from storage (the host must be closed), closed when the test ends. */
export async function openCores(t: Test, dir: string): Promise<VmCores> {
  const cores = await openVmCores(dir, { existing: true })
  t.teardown(() => closeVmCores(cores))
  return cores
}

export async function entries(log: { length: number; get(i: number): Promise<Buffer | null> }): Promise<LogEntry[]> {
  const out: LogEntry[] = []
  for (let i = 0; i < log.length; i++) out.push(decodeEntry((await log.get(i))!, i))
  return out
}

/** The raw blocks of a log, as a dishonest host about to rewrite it reads them. */
export async function rawEntries(log: { length: number; get(i: number): Promise<Buffer | null> }): Promise<Buffer[]> {
  const out: Buffer[] = []
  for (let i = 0; i < log.length; i++) out.push((await log.get(i))!)
  return out
}

/**
 * Tamper with an archive as a dishonest host can: rewrite the hyperbee block
 * at `seq` so the file it writes has another path, and re-append the rest.
 */
export async function renameFileBlock(db: { length: number; get(i: number): Promise<Buffer | null>; truncate(n: number): Promise<void>; append(b: Buffer[]): Promise<unknown> }, seq: number, path: string): Promise<void> {
  const rest: Buffer[] = []
  for (let s = seq; s < db.length; s++) rest.push((await db.get(s))!)
  const node = BeeNode.decode(rest[0]!)
  rest[0] = BeeNode.encode({ ...node, key: filesKeyEncoding.encode(path) })
  await db.truncate(seq)
  await db.append(rest)
}

export { Corestore }

/** Wait until `ready()` holds, checking every 20 ms; fails (rejects) after `ms` instead of hanging. */
export async function until(ready: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await ready())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** What `fn` throws (typed as the caller says), or null if it returns. */
export function caught<E = Error & { code?: string }>(fn: () => unknown): E | null {
  try {
    fn()
  } catch (err) {
    return err as E
  }
  return null
}

/** Whether this process may mount a small disk (smallDisk): it needs root. */
export const CAN_MOUNT = process.getuid?.() === 0

/**
 * A disk of `mb` MB of its own (a tmpfs), to fill up; null if it could not be
 * mounted. Unmounted and removed after the test's other teardowns (a VM or a
 * process on it closes first: a busy disk does not unmount). `grow` gives it
 * more room.
 */
export async function smallDisk(t: Test, mb: number): Promise<{ dir: string; grow(mb: number): void } | null> {
  const dir = await mkdtemp(join(tmpdir(), 'vms-small-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir], { stdio: 'ignore' })
  } catch {
    await rmdir(dir)
    return null
  }
  t.teardown(async () => {
    try { execFileSync('umount', [dir], { stdio: 'ignore' }) } catch {}
    await rmdir(dir).catch(() => {})
  }, { order: Infinity })
  return { dir, grow: (size) => execFileSync('mount', ['-o', `remount,size=${size}m`, dir], { stdio: 'ignore' }) }
}

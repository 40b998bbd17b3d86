/**
 * What a storage directory may be before it is opened as a Corestore: new,
 * empty, or a Corestore's own (it has a CORESTORE file). Opened as a
 * Corestore, any other directory has every file in it moved into DIR/db
 * (hypercore-storage moves an older layout so): a mistyped path, given to
 * `vms-node log` or `serve --storage`, would scramble someone's files.
 * (node:fs is imported when used: the client side, under Bare, never loads it.)
 */
import { VmsError } from './errors.js'

export async function checkStorageDir(path: string, opts: { existing?: boolean } = {}): Promise<void> {
  const { readdir } = await import('node:fs/promises')
  let names: string[]
  try {
    names = await readdir(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !opts.existing) return
    if (code === 'ENOENT') throw new VmsError('STORAGE_INVALID', `${path} does not exist: give the storage directory of a VM`)
    if (code === 'ENOTDIR') throw new VmsError('STORAGE_INVALID', `${path} is a file, not a storage directory`)
    throw err
  }
  if (names.includes('CORESTORE')) return
  if (opts.existing) {
    throw new VmsError('STORAGE_INVALID', `${path} is not a vms-node storage (it has no CORESTORE file): give the storage directory of a VM or node (made by create or serve --storage); nothing in it was touched`)
  }
  if (names.length > 0) {
    throw new VmsError('STORAGE_INVALID', `${path} holds other files and is not a vms-node storage: give a new or empty directory (opened as storage, its files would be moved into ${path}/db); nothing in it was touched`)
  }
}

/** An error opening storage at `path`, named: the lock another process holds on it is STORAGE_LOCKED. */
export function storageOpenError(path: string, err: Error): Error {
  if ((err as { code?: string })?.code === 'DEVICE_FILE') {
    return new VmsError('STORAGE_INVALID', `${path} is a copy of a storage, or was moved to another disk: hypercore will not append to it (a copy and its original could both append to a VM's log and fork it). Host it from the original, or move it with mv on the same disk; log and replay can read a copy`)
  }
  if (/could not be locked/i.test(err?.message ?? '')) {
    return new VmsError('STORAGE_LOCKED', `${path} is in use by another vms-node process (serve, mirror, or a program hosting it): stop that first, or give another directory`)
  }
  return err
}

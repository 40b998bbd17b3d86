/**
 * Where a VM lives on disk: one Corestore holding the call log (a hypercore)
 * and the files archive (a hyperdrive). Also the checks made when storage is
 * reopened: the genesis, and the rollback of a commit cut short by a crash.
 */
import { join } from 'node:path'
import b4a from 'b4a'
import Corestore from 'corestore'
import Hyperdrive from 'hyperdrive'
import type Hypercore from 'hypercore'
import { decodeEntry, EntryType, type FilesState, type Genesis, type LogEntry } from '../messages/index.js'
import { VmsError } from '../errors.js'
import { formatKey } from '../identity.js'
import { checkStorageDir, storageOpenError } from '../storage-dir.js'
import { widenBeeCache, DEFAULT_FILES_CACHE_ENTRIES } from '../files/bee-cache.js'

export interface VmCores {
  store: Corestore
  /** True when this object opened the Corestore (and closes it). */
  ownsStore: boolean
  log: Hypercore
  drive: Hyperdrive
}

/**
 * Open the cores of the VM in `storage`. With `existing`, the storage must
 * already hold a VM (nothing is created): STORAGE_INVALID otherwise.
 */
export async function openVmCores(storage: string | Corestore, { existing = false, filesCacheEntries = DEFAULT_FILES_CACHE_ENTRIES } = {}): Promise<VmCores> {
  if (typeof storage === 'string') await checkStorageDir(storage, { existing })
  const ownsStore = typeof storage === 'string'
  const store = typeof storage === 'string' ? new Corestore(storage) : storage
  await store.ready().catch(async (err: Error) => {
    if (typeof storage !== 'string') throw err
    await store.close().catch(() => {})
    throw storageOpenError(storage, err)
  })
  const log = store.get({ name: 'vms-log' })
  const giveUp = async (err: Error): Promise<never> => {
    await log.close().catch(() => {})
    if (ownsStore) await store.close().catch(() => {})
    throw err
  }
  await log.ready().catch(giveUp)
  if (existing && log.length === 0) await giveUp(new VmsError('STORAGE_INVALID', `${typeof storage === 'string' ? storage : 'this storage'} holds no VM`, null, 'no-vm'))
  // One opener per VM per storage: a second would append to the same log behind the first one's back.
  const id = b4a.toString(log.key, 'hex')
  const openHere = openIn(store)
  if (openHere.has(id)) await giveUp(new VmsError('STORAGE_LOCKED', `VM ${formatKey(log.key)} is already open in this process: use the VmHost that has it, or close that one first`))
  openHere.add(id)
  let drive: Hyperdrive | null = null
  const files = store.namespace('vms-files')
  try {
    drive = new Hyperdrive(files)
    await drive.ready()
    widenBeeCache(drive.db, filesCacheEntries)
    await drive.getBlobs()
    if (drive.db.core.length === 0 && drive.db.core.writable) {
      // Hyperbee writes its header with the first put; write it now so the
      // genesis commits to the archive as every later entry will see it.
      const batch = drive.db.batch()
      await batch.getRoot(true)
      await batch.close()
    }
    for (const core of [log, drive.db.core, (await drive.getBlobs()).core]) {
      if (!core.writable) continue
      skipRedundantHintsWrite(core)
      cacheBitfieldPages(core)
    }
    return { store, ownsStore, log, drive }
  } catch (err) {
    openHere.delete(id)
    await drive?.close().catch(() => {})
    // A drive whose ready() failed closes nothing: its cores and namespace are closed here
    // (left open, the next try in this process waited on them for ever).
    await drive?.blobs?.core.close().catch(() => {})
    await drive?.db.core.close().catch(() => {})
    await files.close().catch(() => {})
    const where = typeof storage === 'string' ? storage : 'this storage'
    // A store closing meanwhile (a node shutting down as it opens its VMs) is no damage.
    const closing = !!(store as unknown as { closing: unknown }).closing
    return giveUp(err instanceof VmsError || closing ? err as Error : new VmsError('STORAGE_INVALID', `the files archive of VM ${formatKey(log.key)} in ${where} does not open (${(err as Error).message}): the storage is damaged; restore the VM from a mirror (vms-node mirror keeps full copies)`))
  }
}

/**
 * Hypercore (11.37–11.39) writes a core's contiguous length twice per append: in the
 * append's own batch, then again in a second write after it (its in-memory
 * copy is updated only after the first). The second write is a RocksDB round
 * trip on every commit's path (~0.1 ms of a lone call). When the append's
 * batch already carried the same value and nothing else is pending, the
 * second write is skipped. (The value is a hint in any case: at open,
 * hypercore recomputes the contiguous length from its bitfield, starting at
 * the hint.) This reaches into hypercore's internals (the lockfile holds the
 * version); if they are not as expected, nothing changes.
 */
function skipRedundantHintsWrite(session: Hypercore): void {
  interface Inner {
    onappend(tree: unknown, bitfield: { start: number; length: number } | null): void
    header: { hints: { contiguousLength: number } }
    hintsChanged: boolean
    vmsHintsPatched?: boolean
  }
  const inner = (session as unknown as { core?: Inner }).core
  if (!inner || inner.vmsHintsPatched || typeof inner.onappend !== 'function' || typeof inner.header?.hints?.contiguousLength !== 'number') return
  inner.vmsHintsPatched = true
  const onappend = inner.onappend.bind(inner)
  inner.onappend = (tree, bitfield) => {
    const before = inner.header.hints.contiguousLength
    const pending = inner.hintsChanged
    onappend(tree, bitfield)
    // The append's batch wrote contiguousLength = start + length exactly when it was contiguous before.
    if (!pending && bitfield && before === bitfield.start && inner.header.hints.contiguousLength === bitfield.start + bitfield.length) inner.hintsChanged = false
  }
}

/**
 * Hypercore (11.37–11.39) reads the bitfield page it is about to extend from RocksDB
 * at every append (a round trip through the storage threads before the
 * append's write can start), then writes the page back. Only this host
 * appends to its cores, so the page it wrote last is the page on disk: keep
 * the pages this core's writes committed, and answer those reads from them.
 * A page enters the cache only once the write that carried it is applied;
 * any deletion of bitfield pages (a truncation) empties the cache. Like the
 * hints patch above, this reaches into internals pinned by the lockfile; if
 * they are not as expected, nothing changes.
 */
function cacheBitfieldPages(session: Hypercore): void {
  interface Tx { putBitfieldPage(i: number, data: Uint8Array): void; deleteBitfieldPage(i: number): void; deleteBitfieldPageRange(s: number, e: number): void; flush(): Promise<boolean> }
  interface Rx { getBitfieldPage(i: number): Promise<Uint8Array | null>; tryFlush(): void; destroy(): void }
  interface Storage { read(fork?: number): Rx; write(): Tx; vmsBitfieldCached?: boolean }
  const storage = (session as unknown as { core?: { state?: { storage?: Storage } } }).core?.state?.storage
  if (!storage || storage.vmsBitfieldCached || typeof storage.read !== 'function' || typeof storage.write !== 'function') return
  const probe = storage.write() as Partial<Tx>
  if (typeof probe.putBitfieldPage !== 'function' || typeof probe.deleteBitfieldPage !== 'function' || typeof probe.deleteBitfieldPageRange !== 'function' || typeof probe.flush !== 'function') return
  storage.vmsBitfieldCached = true
  const pages = new Map<number, Uint8Array>()
  const read = storage.read.bind(storage)
  const write = storage.write.bind(storage)

  storage.write = () => {
    const tx = write()
    const puts = new Map<number, Uint8Array>()
    let cleared = false
    const put = tx.putBitfieldPage.bind(tx)
    const del = tx.deleteBitfieldPage.bind(tx)
    const delRange = tx.deleteBitfieldPageRange.bind(tx)
    const flush = tx.flush.bind(tx)
    tx.putBitfieldPage = (i, data) => { puts.set(i, data); put(i, data) }
    tx.deleteBitfieldPage = (i) => { cleared = true; pages.clear(); del(i) }
    tx.deleteBitfieldPageRange = (s, e) => { cleared = true; pages.clear(); delRange(s, e) }
    tx.flush = async () => {
      const applied = await flush()
      if (applied && !cleared) for (const [i, data] of puts) pages.set(i, b4a.from(data))
      else pages.clear()
      return applied
    }
    return tx
  }

  // A read batch is made only if something is asked that the cache cannot answer.
  storage.read = (fork?: number) => {
    let rx: Rx | null = null
    const real = () => (rx ??= read(fork))
    return new Proxy({} as Rx, {
      get(_, prop) {
        if (prop === 'getBitfieldPage') {
          return (i: number) => {
            const page = pages.get(i)
            return page ? Promise.resolve(b4a.from(page)) : real().getBitfieldPage(i)
          }
        }
        if (prop === 'tryFlush' || prop === 'destroy') return () => { if (rx) rx[prop]() }
        const r = real() as unknown as Record<string | symbol, unknown>
        const v = r[prop]
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v
      }
    })
  }
}

export async function closeVmCores(c: VmCores): Promise<void> {
  try {
    await c.drive.close()
    await c.log.close()
    if (c.ownsStore) await c.store.close()
  } finally {
    openIn(c.store).delete(b4a.toString(c.log.key, 'hex'))
  }
}

/** The VMs whose cores are open on a storage in this process (by log key, hex), whatever namespace opened them. */
const openVms = new WeakMap<object, Set<string>>()
function openIn(store: Corestore): Set<string> {
  const storage = (store as unknown as { storage: object }).storage
  let set = openVms.get(storage)
  if (!set) openVms.set(storage, set = new Set())
  return set
}

export async function readEntry(log: Hypercore, index: number): Promise<LogEntry> {
  const buf = await log.get(index)
  if (!buf) throw new VmsError('STORAGE_INVALID', `log entry ${index} is missing`)
  return decodeEntry(buf, index)
}

export async function readGenesis(log: Hypercore): Promise<Genesis> {
  const entry = await readEntry(log, 0)
  if (entry.type !== EntryType.GENESIS) throw new VmsError('STORAGE_INVALID', 'log entry 0 is not a genesis')
  return entry
}

/** The files state the log last committed to (the genesis' if nothing else). */
export async function lastFilesState(log: Hypercore, genesis: Genesis): Promise<{ files: FilesState; time: number }> {
  if (log.length <= 1) return { files: genesis.files, time: genesis.time }
  const entry = await readEntry(log, log.length - 1)
  if (entry.type === EntryType.GENESIS) throw new VmsError('STORAGE_INVALID', 'a genesis after entry 0')
  return { files: entry.files, time: entry.time }
}

/**
 * The archive must be exactly what the log's last entry (`index`) commits to:
 * the same lengths and tree hashes of both cores. Anything else, once the
 * redo journal has finished what a crash cut short, was written outside the
 * log: the VM must not serve it. Throws STORAGE_INVALID naming what differs.
 */
export function checkArchive(state: FilesState, files: FilesState, index: number): void {
  const differs: string[] = []
  const hex = (h: Uint8Array) => b4a.toString(h, 'hex').slice(0, 16) + '…'
  if (state.dbLength !== files.dbLength) differs.push(`its hyperbee has ${state.dbLength} blocks, the entry says ${files.dbLength}`)
  else if (!b4a.equals(state.dbTreeHash, files.dbTreeHash)) differs.push(`its hyperbee's tree hash is ${hex(state.dbTreeHash)}, the entry says ${hex(files.dbTreeHash)}`)
  if (state.blobsLength !== files.blobsLength) differs.push(`its blobs core has ${state.blobsLength} blocks, the entry says ${files.blobsLength}`)
  else if (!b4a.equals(state.blobsTreeHash, files.blobsTreeHash)) differs.push(`its blobs core's tree hash is ${hex(state.blobsTreeHash)}, the entry says ${hex(files.blobsTreeHash)}`)
  if (differs.length === 0) return
  throw new VmsError('STORAGE_INVALID', `the files archive is not what log entry ${index} commits to (${differs.join('; ')}), and the redo journal does not explain it: it was changed outside the log. ` +
    'The VM is not served. Restore its storage from a mirror (vms-node mirror <key> holds a copy anyone can check), or see what changed with vms-node replay')
}

/** Where the VM's files redo journal lives: next to the Corestore's own files. */
export function redoJournalPath(c: VmCores): string {
  return join(c.store.storage.path, 'vms-redo', b4a.toString(c.log.discoveryKey, 'hex'))
}

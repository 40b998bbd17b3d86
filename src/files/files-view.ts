/**
 * The files as a running script sees them: an archive version plus the file
 * operations of calls that ran but are not flushed yet. The sandbox asks this
 * view when its own cache misses. The host's view sits on the live drive;
 * a replay's view sits on a checkout of the drive being audited.
 */
import id from 'hypercore-id-encoding'
import b4a from 'b4a'
import type Hyperdrive from 'hyperdrive'
import type { FileOp, ReadOp } from '../sandbox/protocol.js'
import { childOf, filesKeyEncoding, isDirValue, shallowEntries, type FileValue } from './entries.js'
import { nameHash } from './name-hash.js'

type Row = [name: string, kind: 'file' | 'dir', size: number, mtime: number, marker: boolean]
/** A range of the files table's keys (paths). */
type KeyRange = { gte?: string; gt?: string; lt: string }
/**
 * Listings are kept (see driveRows) up to this many entries in all (~150
 * bytes each in the host's heap: ~40 MB a VM), the oldest dropped first; a
 * bigger directory is read again when listed, and its paths are looked up
 * one by one.
 */
const KEEP_MAX = 262144
/** Directories whose lookups are counted at most (then the counts start again). */
const COUNTED_DIRS = 65536
/** Paths looked up in a directory before it is listed and kept (in the background). */
const STATS_BEFORE_LISTING = 16

export class FilesView {
  /** Operations that ran after `version` (not in the drive this view reads). */
  private pending: FileOp[] = []
  drive: Hyperdrive
  /** Archive version (db length) the drive part of this view reflects. */
  version: number
  /** Children of directories as the drive holds them at `version` (see driveRows). */
  private listings = new Map<string, Map<string, Row>>()
  /** Entries in all kept listings. */
  private keptRows = 0
  /**
   * Directories a bounded listing found too big: at least this many entries
   * (less the deletes flushed since). Asked again with a bound below that,
   * they are answered at once, not read up to the bound again (at every wake).
   */
  private bigDirs = new Map<string, number>()
  /** Lookups by path in each directory not kept: past STATS_BEFORE_LISTING it is listed. */
  private statsIn = new Map<string, number>()
  /** Listings being read, each with the operations flushed since it started (applied to it before it is kept). */
  private reading = new Set<FileOp[]>()
  /** Moves when the drive part is replaced by one the kept listings cannot follow: reads started before are not kept. */
  private epoch = 0

  /** Entries kept in all listings at most (KEEP_MAX; smaller in tests). */
  private keepMax: number
  /**
   * The archive's key as the script sees it (getInfo): the genesis' files key.
   * A replay of copies under other keys (a report's verifier) sees the VM's own.
   */
  private key: Uint8Array

  constructor(drive: Hyperdrive, version: number, opts: { keepMax?: number; key?: Uint8Array } = {}) {
    this.drive = drive
    this.version = version
    this.keepMax = opts.keepMax ?? KEEP_MAX
    this.key = opts.key ?? drive.key
  }

  apply(ops: FileOp[]): void {
    for (const op of ops) this.pending.push(op)
  }

  /** The first `count` pending operations are now in the drive (whose version moved on by as many). */
  flushed(count: number): void {
    this.advance(this.pending.splice(0, count))
    this.version += count
  }

  /**
   * Replace the drive part (a replay moving its checkout forward). Pending ops
   * are dropped; when the new version is the old one with them all, they are
   * what moved it, and the kept listings move forward with them.
   */
  reset(drive: Hyperdrive, version: number): void {
    if (version === this.version + this.pending.length) this.advance(this.pending)
    else { this.listings.clear(); this.keptRows = 0; this.bigDirs.clear(); this.statsIn.clear(); this.epoch++ }
    this.drive = drive
    this.version = version
    this.pending = []
  }

  read(op: ReadOp, path: string, arg?: string): Promise<unknown> {
    switch (op) {
      case 'list': return this.list(path, arg === undefined ? Infinity : Number(arg))
      case 'names': return Promise.resolve(this.names(path, Number(arg)))
      case 'stat': return this.node(path)
      case 'read': return this.readFile(path)
      case 'info': return Promise.resolve({ key: id.encode(this.key), hex: b4a.toString(this.key, 'hex'), version: this.version + this.pending.length })
      case 'history': return this.history(arg)
      case 'oracle': return Promise.reject(Object.assign(new Error('no oracles here'), { code: 'ORACLE_UNAVAILABLE' }))
    }
  }

  /**
   * The children of `dir`, pending operations applied: the drive's children
   * (`driveRows`), each settled by the drive alone unless an operation is
   * pending on it or deleted something under it. Null when there are more than
   * `max` (a sandbox's cache takes no bigger listing).
   */
  private async list(dir: string, max = Infinity): Promise<Row[] | null> {
    const prefix = dir === '/' ? '/' : dir + '/'
    const overlay = this.overlay()
    const deletedUnder = (p: string) => { for (const [path, op] of overlay) if (op.op === 'del' && path.startsWith(p + '/')) return true; return false }
    const rows = new Map<string, Row>()
    const unsure: string[] = []
    // Pending deletes may take up to that many of the drive's entries away.
    let dels = 0
    for (const op of overlay.values()) if (op.op === 'del' && op.path.startsWith(prefix)) dels++
    const drive = await this.driveRows(dir, max + dels)
    if (!drive || drive.size > max + dels) return null // (a kept listing: too big whatever is pending)
    for (const [name, row] of drive) {
      const path = prefix + name
      if (overlay.has(path) || (row[1] === 'dir' && !row[4] && deletedUnder(path))) unsure.push(name)
      else rows.set(name, row)
    }
    for (const path of overlay.keys()) {
      const child = childOf(prefix, path)
      if (child) unsure.push(child.name)
    }
    for (const name of unsure) {
      if (rows.has(name) || name === '') continue
      const row = await this.node(prefix + name, overlay)
      if (row) rows.set(name, row)
    }
    return rows.size > max ? null : [...rows.values()]
  }

  /**
   * The hashes (nameHash) of `dir`'s names, and of those that are
   * directories, each sorted, pending operations applied (a name a pending
   * delete took away may be among them): only from a kept listing, else null
   * at once (a sandbox goes on asking path by path); null too when there are
   * more than `max` names.
   */
  private names(dir: string, max: number): { names: Int32Array; dirs: Int32Array } | null {
    const kept = this.listings.get(dir)
    if (!kept || kept.size > max) return null
    const prefix = dir === '/' ? '/' : dir + '/'
    const names: number[] = []
    const dirs: number[] = []
    for (const [name, row] of kept) {
      const h = nameHash(name)
      names.push(h)
      if (row[1] === 'dir') dirs.push(h)
    }
    for (const op of this.pending) {
      const child = op.op === 'del' ? null : childOf(prefix, op.path)
      if (!child) continue
      const h = nameHash(child.name)
      names.push(h)
      if (child.deeper || op.op === 'mkdir') dirs.push(h)
    }
    return names.length > max ? null : { names: Int32Array.from(names).sort(), dirs: Int32Array.from(dirs).sort() }
  }

  /**
   * The children of `dir` in the drive at `version`, kept from one listing to
   * the next and moved forward with the operations flushed since (a load, a
   * wake or a replay's next isolate lists a big directory again: ~90 µs an
   * entry read cold). Read shallow: at a subdirectory's first key, skip past
   * its keys ('0' follows '/'). (Hyperdrive's shallow listing looks each child
   * up anew: ~0.5 ms a child, 11 s for a directory of 23,000 files.) Null,
   * having read no more than that, when there are more than `max`.
   */
  private async driveRows(dir: string, max = Infinity): Promise<Map<string, Row> | null> {
    const kept = this.listings.get(dir)
    if (kept) return kept
    if ((this.bigDirs.get(dir) ?? 0) > max) return null
    const epoch = this.epoch
    // Each read below sees the drive at this view's version or later (blocks being
    // flushed may be in it): the operations flushed meanwhile are applied
    // again, which changes nothing they are already in.
    const since: FileOp[] = []
    this.reading.add(since)
    const rows = new Map<string, Row>()
    try {
      for await (const [name, value] of shallowEntries(this.drive.db, dir)) {
        rows.set(name, value ? rowOf(name, value) : [name, 'dir', 0, 0, false])
        if (rows.size > max) {
          if (this.epoch === epoch) this.bigDirs.set(dir, rows.size - since.length)
          return null
        }
      }
    } finally {
      this.reading.delete(since)
    }
    // Kept if the drive part was not replaced meanwhile, and it can follow what was flushed.
    if (this.epoch === epoch && rows.size <= this.keepMax && !this.listings.has(dir)) {
      this.keep(dir, rows)
      this.advance(since, dir)
    }
    this.bigDirs.delete(dir)
    return rows
  }

  private keep(dir: string, rows: Map<string, Row>): void {
    this.listings.set(dir, rows)
    this.keptRows += rows.size
    this.evict(dir)
  }

  /** The oldest listings (`spare` last) dropped until the kept ones are within keepMax. */
  private evict(spare?: string): void {
    for (const old of this.listings.keys()) {
      if (this.keptRows <= this.keepMax) return
      if (old !== spare) this.drop(old)
    }
    if (spare !== undefined && this.keptRows > this.keepMax) this.drop(spare)
  }

  private drop(dir: string): void {
    const rows = this.listings.get(dir)
    if (!rows) return
    this.listings.delete(dir)
    this.keptRows -= rows.size
  }

  /**
   * A path looked up in `dir`: after STATS_BEFORE_LISTING of them, `dir` is
   * listed in the background and kept, and lookups in it are answered from
   * memory (an RSVP VM's directory of callers: one archive lookup each,
   * ~0.1 ms warm and ~0.6 ms cold, one after another within a batch).
   */
  private lookedUpIn(dir: string): void {
    const n = (this.statsIn.get(dir) ?? 0) + 1
    if (n === 1 && this.statsIn.size >= COUNTED_DIRS) this.statsIn.clear()
    this.statsIn.set(dir, n)
    if (n !== STATS_BEFORE_LISTING) return
    this.driveRows(dir, this.keepMax).then((rows) => {
      if (rows === null || !this.listings.has(dir)) this.statsIn.delete(dir) // not kept: try again later
    }, () => this.statsIn.delete(dir))
  }

  /**
   * Move the kept listings (or only `only`'s) forward by operations now in
   * the drive; one it cannot follow is dropped.
   */
  private advance(ops: FileOp[], only?: string): void {
    if (only === undefined) for (const since of this.reading) for (const op of ops) since.push(op)
    if (this.listings.size === 0 && this.bigDirs.size === 0) return
    for (const op of ops) {
      const parts = op.path.split('/') // ['', a, b, …]
      for (let depth = 1; depth < parts.length; depth++) {
        const dir = depth === 1 ? '/' : parts.slice(0, depth).join('/')
        if (only !== undefined && dir !== only) continue
        const big = this.bigDirs.get(dir)
        // A delete may take one entry away (a file, or an implied directory's last child).
        if (big !== undefined && op.op === 'del' && only === undefined) this.bigDirs.set(dir, big - 1)
        const rows = this.listings.get(dir)
        if (!rows) continue
        const name = parts[depth]!
        if (depth === parts.length - 1) {
          // The path itself is a child of `dir`.
          if (op.op !== 'del') {
            if (!rows.has(name)) this.keptRows++
            rows.set(name, op.op === 'put' ? [name, 'file', op.data.byteLength, op.mtime, false] : [name, 'dir', 0, op.mtime, true])
          } else if (rows.delete(name)) {
            this.keptRows-- // a file, or a directory rmdir emptied: nothing is left under it
          }
        } else if (op.op === 'del') {
          // A directory only implied by what is under it may have lost its last child: read again.
          if (rows.get(name)?.[4] !== true) this.drop(dir)
        } else if (!rows.has(name)) {
          rows.set(name, [name, 'dir', 0, 0, false])
          this.keptRows++
        }
      }
    }
    if (this.keptRows > this.keepMax) this.evict()
  }

  /** One path, pending operations applied: a file, a directory (marked or implied by what is under it), or null. */
  private async node(path: string, overlay = this.overlay()): Promise<Row | null> {
    const name = path.slice(path.lastIndexOf('/') + 1)
    const op = overlay.get(path)
    if (op?.op === 'put') return [name, 'file', op.data.byteLength, op.mtime, false]
    if (op?.op === 'mkdir') return [name, 'dir', 0, op.mtime, true]
    let under = true
    const dir = path.slice(0, path.lastIndexOf('/')) || '/'
    const kept = op ? undefined : this.listings.get(dir)
    if (kept) {
      const row = kept.get(name)
      if (row && (row[1] === 'file' || row[4])) return row
      under = row !== undefined // a directory implied by what is under it (pending deletes may have emptied it), or nothing
    } else if (!op) {
      this.lookedUpIn(dir)
      // One look at the keys from `path` to the end of what is under it ('0' follows '/'):
      // the entry itself comes first if there is one; nothing there means nothing under it either.
      const first = await this.peek({ gte: path, lt: path + '0' })
      if (first && first.key === path) return rowOf(name, first.value)
      under = first !== null
    }
    return (await this.hasDescendant(path, overlay, under)) ? [name, 'dir', 0, 0, false] : null
  }

  /** Whether anything is under directory `path` (keys `path/…`), pending operations applied; `inDrive` false: the drive has nothing there. */
  private async hasDescendant(path: string, overlay: Map<string, FileOp>, inDrive = true): Promise<boolean> {
    const prefix = path + '/'
    for (const [p, op] of overlay) if (op.op !== 'del' && p.startsWith(prefix)) return true
    if (!inDrive) return false
    let range: KeyRange = { gte: prefix, lt: path + '0' }
    for (;;) {
      const e = await this.peek(range)
      if (!e) return false
      if (overlay.get(e.key)?.op !== 'del') return true
      range = { gt: e.key, lt: path + '0' }
    }
  }

  /** The first entry of the files table in `range` (one lookup; a read stream cost ~1.5 ms to set up). */
  private async peek(range: KeyRange): Promise<{ key: string; value: FileValue } | null> {
    const e = await this.drive.db.peek(range, { keyEncoding: filesKeyEncoding }) as { key: unknown; value: FileValue } | null
    return e && { key: String(e.key), value: e.value }
  }

  /** The last pending operation on each path. */
  private overlay(): Map<string, FileOp> {
    const m = new Map<string, FileOp>()
    for (const op of this.pending) m.set(op.path, op)
    return m
  }

  private async readFile(path: string): Promise<Uint8Array> {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const op = this.pending[i]!
      if (op.path !== path) continue
      if (op.op === 'put') return op.data
      break
    }
    const data = await this.drive.get(path)
    if (data === null) throw Object.assign(new Error(`ENOENT: no such file, '${path}'`), { code: 'ENOENT' })
    return data
  }

  /**
   * The archive's history as versions (entry seq + 1) and the pending
   * operations after it. `arg` (JSON `{ start, end }`, numbers or null) narrows
   * it to versions in (start, end], or a little more: the script filters again.
   */
  private async history(arg?: string): Promise<{ version: number; rows: Array<{ type: string; path: string; version: number }> }> {
    let start = 0
    let end = Infinity
    try {
      const range = JSON.parse(arg ?? '{}') as { start?: unknown; end?: unknown }
      if (typeof range.start === 'number' && Number.isFinite(range.start)) start = Math.max(0, Math.floor(range.start))
      if (typeof range.end === 'number' && Number.isFinite(range.end)) end = Math.max(0, Math.ceil(range.end))
    } catch {}
    const rows: Array<{ type: string; path: string; version: number }> = []
    const lt = Math.min(this.version, end)
    if (start < lt) {
      for await (const e of this.drive.db.createHistoryStream({ gte: start, lt, keyEncoding: filesKeyEncoding })) {
        rows.push({ type: e.type, path: String(e.key), version: e.seq + 1 })
      }
    }
    let v = this.version
    for (const op of this.pending) {
      v++
      if (v > start && v <= end) rows.push({ type: op.op === 'del' ? 'del' : 'put', path: op.path, version: v })
    }
    return { version: v, rows }
  }
}

function rowOf(name: string, value: FileValue): Row {
  const dir = isDirValue(value)
  return [name, dir ? 'dir' : 'file', dir ? 0 : value.blob?.byteLength ?? 0, value.metadata?.mtime ?? 0, dir]
}

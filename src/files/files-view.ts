/**
 * The files as a running script sees them: an archive version plus the file
 * operations of calls that ran but are not flushed yet. The sandbox asks this
 * view when its own cache misses. The host's view sits on the live drive;
 * a replay's view sits on a checkout of the drive being audited.
 */
import id from 'hypercore-id-encoding'
import type Hyperdrive from 'hyperdrive'
import type { FileOp, ReadOp } from '../sandbox/protocol.js'
import { filesKeyEncoding, isDirValue, type FileValue } from './entries.js'

type Row = [name: string, kind: 'file' | 'dir', size: number, mtime: number, marker: boolean]

export class FilesView {
  /** Operations that ran after `version` (not in the drive this view reads). */
  private pending: FileOp[] = []
  drive: Hyperdrive
  /** Archive version (db length) the drive part of this view reflects. */
  version: number

  constructor(drive: Hyperdrive, version: number) {
    this.drive = drive
    this.version = version
  }

  apply(ops: FileOp[]): void {
    for (const op of ops) this.pending.push(op)
  }

  /** The first `count` pending operations are now in the drive (whose version moved on by as many). */
  flushed(count: number): void {
    this.pending.splice(0, count)
    this.version += count
  }

  /** Replace the drive part (a replay moving its checkout forward). Pending ops are dropped. */
  reset(drive: Hyperdrive, version: number): void {
    this.drive = drive
    this.version = version
    this.pending = []
  }

  read(op: ReadOp, path: string, arg?: string): Promise<unknown> {
    switch (op) {
      case 'list': return this.list(path)
      case 'read': return this.readFile(path)
      case 'info': return Promise.resolve({ key: id.encode(this.drive.key), version: this.version + this.pending.length })
      case 'history': return this.history(arg)
      case 'oracle': return Promise.reject(Object.assign(new Error('no oracles here'), { code: 'ORACLE_UNAVAILABLE' }))
    }
  }

  private async list(dir: string): Promise<Row[]> {
    const prefix = dir === '/' ? '/' : dir + '/'
    const keys = new Map<string, FileValue>()
    for await (const entry of this.drive.list(dir === '/' ? '/' : dir)) keys.set(entry.key, entry.value as FileValue)
    for (const op of this.pending) {
      if (!op.path.startsWith(prefix)) continue
      if (op.op === 'del') keys.delete(op.path)
      else if (op.op === 'mkdir') keys.set(op.path, { executable: false, linkname: null, blob: null, metadata: { directory: true, mtime: op.mtime } })
      else keys.set(op.path, { executable: false, linkname: null, blob: { blockOffset: 0, blockLength: 0, byteOffset: 0, byteLength: op.data.byteLength }, metadata: { mtime: op.mtime } })
    }
    const rows = new Map<string, Row>()
    for (const [key, value] of keys) {
      const rest = key.slice(prefix.length)
      const slash = rest.indexOf('/')
      const name = slash === -1 ? rest : rest.slice(0, slash)
      if (name === '') continue
      if (slash === -1) {
        const dir = isDirValue(value)
        rows.set(name, [name, dir ? 'dir' : 'file', dir ? 0 : value.blob?.byteLength ?? 0, value.metadata?.mtime ?? 0, dir])
      } else if (!rows.has(name)) {
        rows.set(name, [name, 'dir', 0, 0, false])
      }
    }
    return [...rows.values()]
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

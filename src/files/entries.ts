/**
 * How vms-node stores files in the hyperdrive: standard hyperdrive entries
 * (so any hyperdrive reader sees the files), with the call's logged time as
 * `metadata.mtime`, and a marker entry for directories made with mkdir.
 */
import SubEncoder from 'sub-encoder'
import type Hyperbee from 'hyperbee'
import type { BlobId } from 'hyperdrive'

/** Hyperdrive's key encoding for its files table. */
export const filesKeyEncoding = new SubEncoder('files', 'utf-8')

/** Hyperblobs' default block size: file contents are split into blocks of this size. */
export const BLOB_BLOCK_SIZE = 65536

export interface FileValue {
  executable: boolean
  linkname: string | null
  blob: BlobId | null
  metadata: { mtime: number; directory?: true }
}

export function fileValue(blob: BlobId, mtime: number): FileValue {
  return { executable: false, linkname: null, blob, metadata: { mtime } }
}

export function dirValue(mtime: number): FileValue {
  return { executable: false, linkname: null, blob: null, metadata: { directory: true, mtime } }
}

export function isDirValue(v: FileValue | null | undefined): boolean {
  return !!v && v.blob === null && !!v.metadata && v.metadata.directory === true
}

/** A path as the archive keys it: absolute, no empty, `.` or `..` segments (`..` cannot climb past the root). */
export function normalizeFilePath(path: string): string {
  const parts: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') parts.pop()
    else parts.push(seg)
  }
  return '/' + parts.join('/')
}

/**
 * The child of a directory (given as its key prefix, ending in '/') that
 * `path` is, or is under (`deeper`: that child is a directory); null when
 * `path` is not in the directory.
 */
export function childOf(prefix: string, path: string): { name: string; deeper: boolean } | null {
  if (!path.startsWith(prefix)) return null
  const slash = path.indexOf('/', prefix.length)
  return slash === -1 ? { name: path.slice(prefix.length), deeper: false } : { name: path.slice(prefix.length, slash), deeper: true }
}

/**
 * The children of directory `dir` in a files table, each once, in key order:
 * its name and, for a file or a marked directory, its entry (null for a
 * directory implied by what is under it). Read as one range, shallow: at a
 * subdirectory's first key, the read skips past its keys ('0' follows '/').
 * Hyperdrive's own shallow listing looks each child up anew (~0.5 ms a child
 * locally, a round trip or more each from a peer: 3.4 s for 5,000 files over
 * loopback). Stopping early (break) closes the read. (A file and a
 * directory of one name — a file `a` and files under `a/` — come as the file.)
 */
export async function * shallowEntries(db: Hyperbee, dir: string): AsyncGenerator<[name: string, value: FileValue | null]> {
  const prefix = dir === '/' ? '/' : dir + '/'
  const end = dir === '/' ? '0' : dir + '0'
  let range: { gte: string; lt: string } | null = { gte: prefix, lt: end }
  // Keys sort '/d/a' < '/d/a.json' < '/d/a/x': a name can come back after others.
  const seen = new Set<string>()
  while (range) {
    const ite = db.createRangeIterator(range, { keyEncoding: filesKeyEncoding })
    let next: { gte: string; lt: string } | null = null
    await ite.open()
    try {
      for (let node = await ite.next(); node; node = await ite.next()) {
        const { name, deeper } = childOf(prefix, String(node.key))!
        if (name !== '' && !seen.has(name)) {
          seen.add(name)
          yield [name, deeper ? null : node.value as FileValue]
        }
        if (deeper) { next = { gte: prefix + name + '0', lt: end }; break }
      }
    } finally {
      await ite.close()
    }
    range = next
  }
}

/** Split content into blob blocks as hyperblobs does. */
export function blobBlocks(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < data.byteLength; i += BLOB_BLOCK_SIZE) out.push(data.subarray(i, i + BLOB_BLOCK_SIZE))
  return out
}

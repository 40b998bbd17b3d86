/**
 * How vms-node stores files in the hyperdrive: standard hyperdrive entries
 * (so any hyperdrive reader sees the files), with the call's logged time as
 * `metadata.mtime`, and a marker entry for directories made with mkdir.
 */
import SubEncoder from 'sub-encoder'
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

/** Split content into blob blocks as hyperblobs does. */
export function blobBlocks(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < data.byteLength; i += BLOB_BLOCK_SIZE) out.push(data.subarray(i, i + BLOB_BLOCK_SIZE))
  return out
}

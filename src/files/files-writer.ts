/**
 * Writes the file operations of a group of calls to the hyperdrive in one go:
 * all file contents in one append to the blobs core, all entries in one
 * append to the hyperbee core. prepare() lays the blocks out in memory, with
 * the files state (lengths and tree hashes of both cores) after each call, so
 * the host can log the group while flush() appends them. Each entry block is
 * encoded as a lone put would write it (see bee-blocks.ts), so every call's
 * version is a valid checkout.
 */
import type Hyperdrive from 'hyperdrive'
import type Hypercore from 'hypercore'
import b4a from 'b4a'
import { MerkleRoots, treeHash } from '../merkle.js'
import { rootsOfCore } from '../merkle-core.js'
import { VmsError } from '../errors.js'
import type { FileOp } from '../sandbox/protocol.js'
import type { FilesState, RedoRecord } from '../messages/index.js'
import { blobBlocks, dirValue, fileValue, filesKeyEncoding } from './entries.js'
import { encodeBeeBlock, warmBeeCache, type BatchInternals } from './bee-blocks.js'

export class FilesWriter {
  readonly drive: Hyperdrive
  readonly blobsCore: Hypercore
  private dbRoots: MerkleRoots
  private blobRoots: MerkleRoots
  private blobBytes: number

  private constructor(drive: Hyperdrive, blobsCore: Hypercore, dbRoots: MerkleRoots, blobRoots: MerkleRoots) {
    this.drive = drive
    this.blobsCore = blobsCore
    this.dbRoots = dbRoots
    this.blobRoots = blobRoots
    this.blobBytes = blobsCore.byteLength
  }

  static async open(drive: Hyperdrive): Promise<FilesWriter> {
    const blobs = await drive.getBlobs()
    const db = drive.db.core
    return new FilesWriter(drive, blobs.core, await rootsOfCore(db, db.length), await rootsOfCore(blobs.core, blobs.core.length))
  }

  /** The files state now (after everything flushed). */
  state(): FilesState {
    return filesState(this.dbRoots, this.blobRoots)
  }

  /**
   * Lay out the blocks of each call's operations and the files state after
   * each call, without writing anything yet. The next prepare must wait for
   * this one's flush (it builds on the drive as flushed).
   */
  async prepare(groups: FileOp[][]): Promise<PreparedFiles> {
    const db = this.drive.db
    if (db.core.length !== this.dbRoots.length || this.blobsCore.length !== this.blobRoots.length) {
      throw new VmsError('STORAGE_FAILED', `the files archive was changed outside the log (db ${this.dbRoots.length} → ${db.core.length}, blobs ${this.blobRoots.length} → ${this.blobsCore.length} blocks): the VM stopped; audit it with replay()`)
    }
    // No update: only this writer appends to the bee, so its length is current.
    const batch = db.batch({ update: false })
    const dbStart = db.core.length
    const blobsStart = this.blobRoots.length
    const dbBlocks: Uint8Array[] = []
    const blobBlocksOut: Uint8Array[] = []
    const dbMarks: number[] = []
    const blobMarks: number[] = []
    let blobLength = this.blobRoots.length
    let byteOffset = this.blobBytes

    try {
      for (const ops of groups) {
        for (const op of ops) {
          if (op.op === 'put') {
            const blocks = blobBlocks(op.data)
            const blob = { blockOffset: blobLength, blockLength: blocks.length, byteOffset, byteLength: op.data.byteLength }
            for (const b of blocks) blobBlocksOut.push(b)
            blobLength += blocks.length
            byteOffset += op.data.byteLength
            await batch.put(op.path, fileValue(blob, op.mtime), { keyEncoding: filesKeyEncoding })
          } else if (op.op === 'mkdir') {
            await batch.put(op.path, dirValue(op.mtime), { keyEncoding: filesKeyEncoding })
          } else {
            await batch.del(op.path, { keyEncoding: filesKeyEncoding })
          }
          dbBlocks.push(encodeBeeBlock(batch as unknown as BatchInternals, dbStart + dbBlocks.length))
        }
        dbMarks.push(batch.length)
        blobMarks.push(blobBlocksOut.length)
      }
    } finally {
      await batch.close()
    }

    const states: FilesState[] = []
    const dbRoots = this.dbRoots.clone()
    const blobRoots = this.blobRoots.clone()
    let d = 0
    let bl = 0
    for (let i = 0; i < groups.length; i++) {
      for (; d < dbMarks[i]!; d++) dbRoots.append(dbBlocks[d]!)
      for (; bl < blobMarks[i]!; bl++) blobRoots.append(blobBlocksOut[bl]!)
      states.push(filesState(dbRoots, blobRoots))
    }
    return { states, record: { dbStart, blobsStart, dbBlocks, blobBlocks: blobBlocksOut }, dbRoots, blobRoots, byteLength: byteOffset }
  }

  /** Append what prepare() laid out: contents and entries, two independent appends. */
  async flush(p: PreparedFiles): Promise<void> {
    const db = this.drive.db
    const { dbBlocks, blobBlocks: blobs, dbStart } = p.record
    await Promise.all([
      blobs.length > 0 ? this.blobsCore.append(blobs as Buffer[]) : null,
      dbBlocks.length > 0 ? db.core.append(dbBlocks as Buffer[]) : null
    ])
    this.dbRoots = p.dbRoots
    this.blobRoots = p.blobRoots
    this.blobBytes = p.byteLength
    warmBeeCache(db, dbStart, dbBlocks)

    if (!b4a.equals(this.dbRoots.hash(), treeHash(db.core.state.roots)) || this.dbRoots.length !== db.core.length) {
      throw new VmsError('STORAGE_FAILED', 'the files archive was changed outside the log while a commit ran: the VM stopped; audit it with replay()')
    }
  }
}

function filesState(db: MerkleRoots, blobs: MerkleRoots): FilesState {
  return { dbLength: db.length, dbTreeHash: db.hash(), blobsLength: blobs.length, blobsTreeHash: blobs.hash() }
}

export interface PreparedFiles {
  /** The files state after each call of the group. */
  states: FilesState[]
  /** The blocks to append (also what the redo journal keeps). */
  record: RedoRecord
  dbRoots: MerkleRoots
  blobRoots: MerkleRoots
  byteLength: number
}

/**
 * The files redo journal of one VM: a small local file holding the drive
 * blocks of the group of calls being committed.
 *
 * A group's files append and its log append run at the same time (a lone
 * call waits for one disk write, not two in a row). The log entries commit to
 * the files state by tree hash, so a crash can leave the log durable and the
 * files append lost. The journal closes that gap: the group's drive blocks are
 * written here, synchronously, before its log append starts; at restart
 * `finishFromJournal` appends whatever the drive lacks, and the host checks
 * the drive then matches the log's last entry by tree hash.
 *
 * Files appends run one group after another, so only the latest group can be
 * unfinished: the file holds one record, overwritten each time.
 * Layout: u32 LE payload length, 32-byte BLAKE2b hash of the payload, the
 * payload (a `redoRecord`). A torn or stale tail fails the hash and reads as
 * no record. Like the Corestore's own writes, it survives a kill of the
 * process (page cache), not the loss of the machine.
 */
import fs from 'node:fs'
import { dirname } from 'node:path'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import type Hyperdrive from 'hyperdrive'
import type Hypercore from 'hypercore'
import { VmsError } from '../errors.js'
import { decodeStrict, encode, redoRecord, type FilesState, type RedoRecord } from '../messages/index.js'

const HEADER = 4 + 32

export class RedoJournal {
  readonly path: string
  private fd: number | null = null
  private closed = false

  private constructor(path: string) {
    this.path = path
  }

  static open(path: string): RedoJournal {
    fs.mkdirSync(dirname(path), { recursive: true })
    const journal = new RedoJournal(path)
    journal.handle()
    return journal
  }

  /** The record last written, or null (none, or a write cut short). */
  read(): RedoRecord | null {
    const buf = fs.readFileSync(this.path)
    if (buf.byteLength < HEADER) return null
    const len = buf.readUInt32LE(0)
    if (len === 0 || HEADER + len > buf.byteLength) return null
    const payload = buf.subarray(HEADER, HEADER + len)
    if (!b4a.equals(crypto.hash(payload), buf.subarray(4, HEADER))) return null
    return decodeStrict(redoRecord, payload, 'the redo journal record')
  }

  /** Replace the record; returns once the bytes are in the file. */
  write(record: RedoRecord): void {
    const payload = encode(redoRecord, record)
    const buf = b4a.allocUnsafe(HEADER + payload.byteLength)
    buf.writeUInt32LE(payload.byteLength, 0)
    crypto.hash(payload, buf.subarray(4, HEADER))
    buf.set(payload, HEADER)
    fs.writeSync(this.handle(), buf, 0, buf.byteLength, 0)
  }

  /**
   * Let go of the file descriptor while the VM is idle (a node may hold
   * thousands of VMs); the next write opens it again.
   */
  release(): void {
    if (this.fd === null) return
    fs.closeSync(this.fd)
    this.fd = null
  }

  close(): void {
    this.release()
    this.closed = true
  }

  private handle(): number {
    if (this.closed) throw new VmsError('CLOSED', 'the redo journal is closed')
    if (this.fd === null) this.fd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
    return this.fd
  }
}

/**
 * At open: if the drive is shorter than the log's last files state, append
 * the blocks of the journal's record that each core lacks. Returns a note for
 * the load entry ('' if there was nothing to finish).
 */
export async function finishFromJournal(drive: Hyperdrive, files: FilesState, journal: RedoJournal): Promise<string> {
  const db = drive.db.core
  const blobs = (await drive.getBlobs()).core
  if (db.length >= files.dbLength && blobs.length >= files.blobsLength) return ''
  const record = journal.read()
  const damaged = `the files archive is shorter than the log says (db ${db.length} of ${files.dbLength}, blobs ${blobs.length} of ${files.blobsLength})`
  if (!record) throw new VmsError('STORAGE_INVALID', `${damaged} and the redo journal ${journal.path} holds nothing to finish it with: the storage was damaged; restore it from a mirror (vms-node mirror) or audit it with vms-node replay`)
  const appended = [await finish(db, record.dbStart, record.dbBlocks, 'hyperbee', damaged), await finish(blobs, record.blobsStart, record.blobBlocks, 'blobs', damaged)]
  return `finished a commit cut short: appended ${appended[0]} file entries and ${appended[1]} blob blocks from the redo journal`
}

async function finish(core: Hypercore, start: number, blocks: Uint8Array[], name: string, damaged: string): Promise<number> {
  if (core.length === start + blocks.length) return 0
  if (core.length !== start) {
    throw new VmsError('STORAGE_INVALID', `${damaged}, and the redo journal's ${name} blocks start at ${start}, not at ${core.length}: the storage was damaged; restore it from a mirror`)
  }
  if (blocks.length > 0) await core.append(blocks as Buffer[])
  return blocks.length
}

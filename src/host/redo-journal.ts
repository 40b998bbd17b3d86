/**
 * The redo journal of one VM: a small local file holding what the group of
 * calls being committed appends, its log entries and its drive blocks.
 *
 * A group's files append and its log append run at the same time (a lone
 * call waits for one disk write, not two in a row), and the next group is
 * laid out while a log append runs. A crash can leave either side ahead.
 * The journal closes that gap: each group's record is written,
 * synchronously, before any of its appends start, with its drive blocks and
 * every log entry not yet known appended (its own and an earlier group's in
 * flight). At restart `recoverFromJournal` appends whatever the log and the
 * drive lack, so every block the host signed is accounted for by its log;
 * nothing signed is ever taken back. Once a record is written the group is
 * committed: its calls ran and will be logged.
 *
 * Records go to two files in turn (`<path>` and `<path>.1`), each numbered:
 * a torn write leaves the one before it whole, and the highest whole record
 * is the one to finish. Layout of each: u32 LE payload length, 32-byte
 * BLAKE2b hash of the payload, the payload (a `redoRecord`). A torn or stale
 * tail fails the hash and reads as no record. Like the Corestore's own
 * writes, it survives a kill of the process (page cache), not the loss of
 * the machine.
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
  private fds: [number | null, number | null] = [null, null]
  private closed = false
  /** The number of the last record written (or found at open). */
  private seq = 0

  private constructor(path: string) {
    this.path = path
  }

  static open(path: string): RedoJournal {
    fs.mkdirSync(dirname(path), { recursive: true })
    const journal = new RedoJournal(path)
    journal.seq = journal.read()?.seq ?? 0
    return journal
  }

  /** The latest whole record, or null (none, or only writes cut short). */
  read(): RedoRecord | null {
    let best: RedoRecord | null = null
    for (const slot of [0, 1] as const) {
      const r = this.readSlot(slot)
      if (r && (!best || (r.seq ?? 0) > (best.seq ?? 0))) best = r
    }
    return best
  }

  private readSlot(slot: 0 | 1): RedoRecord | null {
    let buf: Buffer
    try {
      buf = fs.readFileSync(this.slotPath(slot))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    if (buf.byteLength < HEADER) return null
    const len = buf.readUInt32LE(0)
    if (len === 0 || HEADER + len > buf.byteLength) return null
    const payload = buf.subarray(HEADER, HEADER + len)
    if (!b4a.equals(crypto.hash(payload), buf.subarray(4, HEADER))) return null
    return decodeStrict(redoRecord, payload, 'the redo journal record')
  }

  /** Write the next record (numbered here), into the file the one before it is not in; returns once the bytes are in the file. */
  write(record: RedoRecord): void {
    const seq = ++this.seq
    const payload = encode(redoRecord, { ...record, seq })
    const buf = b4a.allocUnsafe(HEADER + payload.byteLength)
    buf.writeUInt32LE(payload.byteLength, 0)
    crypto.hash(payload, buf.subarray(4, HEADER))
    buf.set(payload, HEADER)
    fs.writeSync(this.handle((seq & 1) as 0 | 1), buf, 0, buf.byteLength, 0)
  }

  /**
   * Let go of the file descriptors while the VM is idle (a node may hold
   * thousands of VMs); the next write opens one again.
   */
  release(): void {
    for (const slot of [0, 1] as const) {
      const fd = this.fds[slot]
      if (fd !== null) fs.closeSync(fd)
      this.fds[slot] = null
    }
  }

  close(): void {
    this.release()
    this.closed = true
  }

  private slotPath(slot: 0 | 1): string {
    return slot === 0 ? this.path : this.path + '.1'
  }

  private handle(slot: 0 | 1): number {
    if (this.closed) throw new VmsError('CLOSED', 'the redo journal is closed')
    return this.fds[slot] ??= fs.openSync(this.slotPath(slot), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
  }
}

/**
 * At open: finish the commit the journal's latest record describes, if a
 * crash cut it short. First the log: the record's entries it lacks are
 * appended (the calls ran and their files may already be signed: they are
 * logged, never answered). Then the drive: the blocks of the last group that
 * each core lacks. Returns a note for the load entry ('' if there was
 * nothing to finish). What is still out of line after that is for the caller
 * to check (`checkArchive`).
 *
 * A version-1 record (vms-node before 0.2) holds no log entries: files its
 * group appended past the log are taken back as that version did.
 */
export async function recoverFromJournal(log: Hypercore, drive: Hyperdrive, journal: RedoJournal, lastFiles: (log: Hypercore) => Promise<FilesState>): Promise<string> {
  const record = journal.read()
  const notes: string[] = []
  if (record?.logBlocks && record.logBlocks.length > 0) {
    const appended = await finishLog(log, record.logStart ?? 0, record.logStartHash!, record.logBlocks)
    if (appended > 0) notes.push(`logged ${appended} entries from the redo journal (calls that ran before a crash and were never answered)`)
  }
  const files = await lastFiles(log)
  const db = drive.db.core
  const blobs = (await drive.getBlobs()).core
  if (db.length < files.dbLength || blobs.length < files.blobsLength) {
    const damaged = `the files archive is shorter than the log says (db ${db.length} of ${files.dbLength}, blobs ${blobs.length} of ${files.blobsLength})`
    if (!record) throw new VmsError('STORAGE_INVALID', `${damaged} and the redo journal ${journal.path} holds nothing to finish it with: the storage was damaged; restore it from a mirror (vms-node mirror) or audit it with vms-node replay`)
    const appended = [await finish(db, record.dbStart, record.dbBlocks, 'hyperbee', damaged), await finish(blobs, record.blobsStart, record.blobBlocks, 'blobs', damaged)]
    notes.push(`finished a commit cut short: appended ${appended[0]} file entries and ${appended[1]} blob blocks from the redo journal`)
  } else if (record && record.logBlocks === undefined && (db.length > files.dbLength || blobs.length > files.blobsLength)) {
    const extraDb = db.length - files.dbLength
    const extraBlobs = blobs.length - files.blobsLength
    if (record.dbStart === files.dbLength && record.blobsStart === files.blobsLength && extraDb <= record.dbBlocks.length && extraBlobs <= record.blobBlocks.length) {
      if (extraDb > 0) await db.truncate(files.dbLength)
      if (extraBlobs > 0) await blobs.truncate(files.blobsLength)
      notes.push(`rolled back ${extraDb} file entries and ${extraBlobs} blob blocks that no log entry accounts for (a commit cut short, journaled by an earlier vms-node)`)
    }
  }
  return notes.join('; ')
}

/** Append the record's log entries the log lacks; those it has must be the record's. */
async function finishLog(log: Hypercore, start: number, startHash: Uint8Array, blocks: Uint8Array[]): Promise<number> {
  const have = log.length - start
  if (have >= blocks.length) return 0
  if (have < 0) {
    throw new VmsError('STORAGE_INVALID', `the call log is shorter (${log.length} entries) than the redo journal's entries say it was (${start}): the storage was damaged; restore it from a mirror`)
  }
  if (!b4a.equals(await log.treeHash(start), startHash)) {
    throw new VmsError('STORAGE_INVALID', `the call log's first ${start} entries are not the ones the redo journal's entries were laid out after: the log was changed outside this host; restore the storage from a mirror`)
  }
  for (let i = 0; i < have; i++) {
    if (!b4a.equals((await log.get(start + i))!, blocks[i]!)) {
      throw new VmsError('STORAGE_INVALID', `log entry ${start + i} is not the one the redo journal holds: the storage was damaged; restore it from a mirror`)
    }
  }
  await log.append(blocks.slice(have) as Buffer[])
  return blocks.length - have
}

async function finish(core: Hypercore, start: number, blocks: Uint8Array[], name: string, damaged: string): Promise<number> {
  if (core.length === start + blocks.length) return 0
  if (core.length !== start) {
    throw new VmsError('STORAGE_INVALID', `${damaged}, and the redo journal's ${name} blocks start at ${start}, not at ${core.length}: the storage was damaged; restore it from a mirror`)
  }
  if (blocks.length > 0) await core.append(blocks as Buffer[])
  return blocks.length
}

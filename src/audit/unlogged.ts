/**
 * Files no log entry accounts for, proven. An archive ahead of its log is
 * not evidence on its own: a commit may be under way, and a report could
 * pair an old signed log head with a newer archive. So the auditor names the
 * archive heads it holds in a query (with a nonce), and the host signs what
 * its log commits to once the commits under way are finished. An honest
 * host's statement is a commit boundary: its log head's last entry commits
 * to exactly the archive lengths it states, and they reach at least what the
 * query names (it published those blocks before it answered, and never takes
 * back a block it signed). A statement that breaks either is the host's own
 * signed contradiction.
 */
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { formatKey } from '../identity.js'
import { isSignerOf } from '../merkle.js'
import { decodeStrict, decodeEntry, encode, EntryType, type FilesState, type LogEntry } from '../messages/index.js'
import { filesStateQuery, filesStateStatement, filesStateSignable, type FilesStateQuery, type FilesStateStatement } from '../messages/wire.js'
import { treeHashOfBlocks } from './head-book.js'
import { exportSignedCore, type SignedVm } from './signed-cores.js'
import type { Divergence } from './replay.js'
import type { UnloggedEvidence } from './evidence.js'

export interface Claim { proven: boolean; reason: string }

/** The statement the host signed, if `st` is one for `vmKey` answering `query`. */
export function verifyStatement(vmKey: Uint8Array, query: FilesStateQuery, st: FilesStateStatement): boolean {
  return isSignerOf(vmKey, st.signer) && crypto.verify(filesStateSignable(vmKey, query, st), st.signature, st.signer)
}

/**
 * Judge a files-unlogged claim from its parts: the three signed cores (their
 * signatures and keys already checked), the query and the statement (hex).
 */
export function checkUnloggedClaim(vmKey: Uint8Array, ev: SignedVm & { request: unknown; statement: unknown }): Claim {
  const no = (reason: string): Claim => ({ proven: false, reason })
  const hexOf = (v: unknown) => typeof v === 'string' && /^(?:[0-9a-f]{2})+$/.test(v) ? b4a.from(v, 'hex') : null
  const rawQuery = hexOf(ev.request)
  const rawStatement = hexOf(ev.statement)
  if (!rawQuery || !rawStatement) return no('the request and the statement must be hex')
  let query: FilesStateQuery
  let st: FilesStateStatement
  try {
    query = decodeStrict(filesStateQuery, rawQuery, 'the request')
    st = decodeStrict(filesStateStatement, rawStatement, 'the statement')
  } catch {
    return no('the request or the statement does not decode')
  }
  // The query must name exactly the archive the report holds, as signed.
  const blocks = (l: string[]) => l.map((b) => b4a.from(b, 'hex'))
  for (const [what, q, core] of [['hyperbee', query.db, ev.db], ['blobs core', query.blobs, ev.blobs]] as const) {
    if (q.length !== core.length || q.fork !== core.fork || !b4a.equals(q.treeHash, treeHashOfBlocks(blocks(core.blocks), core.length))) {
      return no(`the request names another ${what} than the report holds`)
    }
  }
  if (!verifyStatement(vmKey, query, st)) return no('the statement is not signed by this VM\'s host for that request')
  // The statement's log head must be in the report, to read what its last entry commits to.
  if (st.log.length < 1 || st.log.length > ev.log.length || st.log.fork !== ev.log.fork ||
    !b4a.equals(st.log.treeHash, treeHashOfBlocks(blocks(ev.log.blocks), st.log.length))) {
    return no(`the report does not hold the log the host's statement names (length ${st.log.length}, fork ${st.log.fork})`)
  }
  let last: LogEntry | null = null
  try { last = decodeEntry(b4a.from(ev.log.blocks[st.log.length - 1]!, 'hex'), st.log.length - 1) } catch {}
  if (!last) return no(`log entry ${st.log.length - 1} does not decode: that is a replay's to prove (malformed-entry)`)
  const files: FilesState = last.files
  const held = `the auditor held its archive at ${query.db.length} hyperbee and ${query.blobs.length} blobs blocks (the host signed them)`
  const stated = `the host stated, after it saw that, ${st.db.length} and ${st.blobs.length} with its log at ${st.log.length} entries`
  if (st.db.fork !== query.db.fork || st.blobs.fork !== query.blobs.fork) {
    // vms-node before 0.2 truncated files a crash left past the log at restart, and said so in the load entry.
    for (let i = 1; i < st.log.length; i++) {
      let e: LogEntry | null = null
      try { e = decodeEntry(b4a.from(ev.log.blocks[i]!, 'hex'), i) } catch {}
      if (e && e.type === EntryType.LOAD && e.note.includes('rolled back')) return no(`the archive was rolled back after a crash (load entry ${i} says so), as vms-node before 0.2 did: files it signed then and took back cannot prove fraud`)
    }
    return { proven: true, reason: `the host truncated its files archive after the auditor held it (forks ${query.db.fork}/${query.blobs.fork} → ${st.db.fork}/${st.blobs.fork}): ${held}; it takes back files it signed` }
  }
  if (st.db.length < query.db.length || st.blobs.length < query.blobs.length) {
    return { proven: true, reason: `${held}; ${stated}: fewer than it had signed on the same fork, so files it signed are not in the archive its log stands for` }
  }
  if (st.db.length !== files.dbLength || st.blobs.length !== files.blobsLength) {
    const ahead = st.db.length > files.dbLength || st.blobs.length > files.blobsLength
    return { proven: true, reason: `${stated}, but its last entry (${st.log.length - 1}) commits to ${files.dbLength} and ${files.blobsLength}: ${ahead ? 'its archive holds files no log entry accounts for' : 'its archive lacks files its log commits to'}` }
  }
  return no(`the host's statement is consistent: its log at ${st.log.length} entries commits to the archive it holds (${st.db.length}, ${st.blobs.length}), which covers what the auditor held: audit the log to that length`)
}

/** How long the log gets to catch up with an archive ahead of it (a commit under way) before the host is asked. */
export const FILES_AHEAD_GRACE_MS = 1000

export interface FilesPastLog {
  /** Proven: the claim, and the evidence anyone can check (`verify-report`). */
  divergence: Divergence | null
  evidence: UnloggedEvidence | null
  /** Not proven (a commit under way, the host not there to ask): what was seen, for the report's notes. */
  note: string | null
}

/**
 * After an audit verified `replica`'s log up to `verified` (whose last entry
 * commits to `files`): does the archive hold blocks past that, and do they
 * stay there? The log gets FILES_AHEAD_GRACE_MS to catch up; then the host is
 * asked (`ask`) to state what its log commits to, naming what this replica
 * holds. Only a statement that contradicts what the host signed is a
 * divergence, with evidence judged as `verify-report` judges it.
 */
export async function checkFilesPastLog(
  vmKey: Uint8Array, replica: { log: Hypercore; drive: Hyperdrive }, verified: number, files: FilesState,
  ask: (query: FilesStateQuery) => Promise<FilesStateStatement>, { graceMs = FILES_AHEAD_GRACE_MS } = {}
): Promise<FilesPastLog | null> {
  const { log, drive } = replica
  const db = drive.db.core
  const blobs = (await drive.getBlobs()).core
  await Promise.all([db.update({ wait: true }).catch(() => {}), blobs.update({ wait: true }).catch(() => {})])
  const ahead = () => db.length > files.dbLength || blobs.length > files.blobsLength
  if (!ahead()) return null
  const end = Date.now() + graceMs
  while (log.length === verified && Date.now() < end) {
    await log.update({ wait: true }).catch(() => {})
    if (log.length === verified) await new Promise((r) => setTimeout(r, 100))
  }
  const past = `the archive holds ${db.length - files.dbLength} hyperbee and ${blobs.length - files.blobsLength} blobs blocks past what entry ${verified - 1} commits to`
  if (log.length > verified) return { divergence: null, evidence: null, note: `${past}: entries logged since account for them (audit again to check those)` }
  const query: FilesStateQuery = {
    nonce: crypto.randomBytes(16),
    db: { length: db.length, fork: db.fork, treeHash: await db.treeHash(db.length) },
    blobs: { length: blobs.length, fork: blobs.fork, treeHash: await blobs.treeHash(blobs.length) }
  }
  let st: FilesStateStatement
  try {
    st = await ask(query)
  } catch (err) {
    return { divergence: null, evidence: null, note: `${past}, and the host did not state what its log commits to (${(err as Error).message}): not evidence of anything yet; audit again with the host online` }
  }
  if (st.log.length > verified) return { divergence: null, evidence: null, note: `${past}: the host's log is at ${st.log.length} entries now (audit again to check those)` }
  const hex = (b: Uint8Array) => b4a.toString(b, 'hex')
  const evidence: UnloggedEvidence = {
    version: 2, kind: 'unlogged', vmKey: formatKey(vmKey),
    divergence: { index: verified, class: 'files-unlogged', message: '', expected: '', found: '' },
    log: await exportSignedCore(log), db: await exportSignedCore(db), blobs: await exportSignedCore(blobs),
    request: hex(encode(filesStateQuery, query)), statement: hex(encode(filesStateStatement, st))
  }
  const claim = checkUnloggedClaim(vmKey, evidence)
  if (!claim.proven) return { divergence: null, evidence: null, note: `${past}; ${claim.reason}` }
  evidence.divergence = {
    index: verified, class: 'files-unlogged', message: claim.reason,
    expected: `the files log entry ${verified - 1} commits to: ${files.dbLength} hyperbee and ${files.blobsLength} blobs blocks`,
    found: `${db.length} and ${blobs.length}, signed by the host; its statement: log at ${st.log.length}, archive at ${st.db.length} and ${st.blobs.length}`
  }
  return { divergence: evidence.divergence, evidence, note: null }
}

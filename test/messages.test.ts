import test, { type Test } from 'brittle'
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import { VmsError } from '../src/errors.js'
import type { Encoding } from 'compact-encoding'
import { response, viewResponse, blocksResponse, controlResponse } from '../src/messages/wire.js'
import {
  encode, decodeEntry, decodeStrict, callSignable, logEntry, receipt, signedCall,
  EntryType, LoadReason, LOG_VERSION, SANDBOX_API_VERSION,
  type Genesis, type LoadEntry, type CallEntry, type UpgradeEntry, type Receipt, type SignedCall, type FilesState, type LogEntry
} from '../src/messages/index.js'
import { caught } from './helpers/index.js'

/** Uint8Arrays (Buffer or not) as 'hex:...' strings, so values compare by content. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return 'hex:' + b4a.toString(v, 'hex')
  if (Array.isArray(v)) return v.map(norm)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]))
  return v
}

function files(dbLength: number, blobsLength: number): FilesState {
  return { dbLength, dbTreeHash: crypto.randomBytes(32), blobsLength, blobsTreeHash: crypto.randomBytes(32) }
}

function genesis(): Genesis {
  return {
    type: EntryType.GENESIS,
    apiVersion: SANDBOX_API_VERSION,
    filename: 'rsvp.js',
    script: 'exports.hello = (name) => "hello " + name // \u00e9\u{1F600}\n',
    filesKey: crypto.randomBytes(32),
    limits: {
      timeoutMs: 5000, memoryMb: 64, maxArgsBytes: 65536, maxResultBytes: 1024 * 1024,
      maxFileBytes: 16 * 1024 * 1024, nonceWindowMs: 10 * 60 * 1000, nonceSkewMs: 30 * 1000
    },
    oracles: ['time', 'random', 'fetch'],
    time: 1_700_000_000_123,
    files: files(1, 0)
  }
}

function upgrade(): UpgradeEntry {
  return {
    type: EntryType.UPGRADE, version: 3, previous: 41, owner: crypto.randomBytes(32), signature: crypto.randomBytes(64), nonce: crypto.randomBytes(16),
    filename: 'rsvp-v3.js', script: 'exports.hello = () => "v3"', time: 1_700_000_003_000, seed: crypto.randomBytes(16),
    outcome: { ok: true, limit: false, value: b4a.alloc(0), error: null }, files: files(9, 4)
  }
}

function load(): LoadEntry {
  return {
    type: EntryType.LOAD,
    reason: LoadReason.RESTART,
    time: 1_700_000_001_000,
    seed: crypto.randomBytes(16),
    note: 'restarted after upgrade',
    outcome: { ok: true, limit: false, value: b4a.from('{"ready":true}'), error: null },
    files: files(3, 2)
  }
}

function call(outcome: CallEntry['outcome']): CallEntry {
  return {
    type: EntryType.CALL,
    publicKey: crypto.randomBytes(32),
    signature: crypto.randomBytes(64),
    method: 'RSVP',
    args: b4a.from('[true,"yes!"]'),
    nonce: crypto.randomBytes(16),
    time: 1_700_000_002_500,
    seed: crypto.randomBytes(16),
    oracles: [
      { name: 'fetch', input: b4a.from('["https://example.com"]'), output: b4a.from('{"status":200}') },
      { name: 'time', input: b4a.alloc(0), output: b4a.from('1700000002500') }
    ],
    outcome,
    files: files(70000, 5_000_000_000)
  }
}

const okCall = (): CallEntry => call({ ok: true, limit: false, value: b4a.from('{"a":[1,2]}'), error: null })
const failedCall = (): CallEntry => call({ ok: false, limit: false, value: b4a.alloc(0), error: { name: 'TypeError', message: 'isAttending must be true or false', code: 'CALL_FAILED' } })
const limitCall = (): CallEntry => call({ ok: false, limit: true, value: b4a.alloc(0), error: { name: 'LimitError', message: 'the call ran past 5000 ms', code: 'TIMEOUT' } })

function expectMalformed(t: Test, fn: () => unknown, what: RegExp, name: string): void {
  const err = caught(fn)
  t.ok(err instanceof VmsError, name + ': a VmsError')
  t.is((err as VmsError | null)?.code, 'MALFORMED_ENTRY', name + ': code')
  t.ok(what.test((err as Error | null)?.message ?? ''), name + ': ' + (err as Error | null)?.message)
}

// ---------------------------------------------------------------------------

test('log entries round-trip', (t) => {
  const cases: Array<[string, LogEntry]> = [
    ['genesis', genesis()],
    ['load', load()],
    ['load with a failed init', { ...load(), reason: LoadReason.CREATE, note: '', outcome: { ok: false, limit: false, value: b4a.alloc(0), error: { name: 'Error', message: 'init failed', code: '' } } }],
    ['call ok', okCall()],
    ['call ok, empty value (undefined)', { ...okCall(), outcome: { ok: true, limit: false, value: b4a.alloc(0), error: null }, oracles: [] }],
    ['call failed', failedCall()],
    ['call hit a limit', limitCall()],
    ['genesis with owners (format 2)', { ...genesis(), governance: { owners: [crypto.randomBytes(32), crypto.randomBytes(32)] } }],
    ['genesis, immutable (format 2)', { ...genesis(), governance: { owners: [] } }],
    ['pinned call (format 2)', { ...okCall(), scriptHash: crypto.randomBytes(32) }],
    ['upgrade (format 2)', upgrade()]
  ]
  for (const [name, entry] of cases) {
    const buf = encode(logEntry, entry)
    t.is(buf[0], name.includes('(format 2)') ? 2 : 1, name + ': version byte (the lowest that holds it)')
    t.is(buf[1], entry.type, name + ': type byte')
    const back = decodeEntry(buf)
    t.alike(norm(back), norm(entry), name)
    t.alike(encode(logEntry, back), buf, name + ': re-encodes to the same bytes')
  }
})

test('decoded call entry fields', (t) => {
  const entry = limitCall()
  const back = decodeEntry(encode(logEntry, entry), 7)
  if (back.type !== EntryType.CALL) return t.fail('not a call')
  t.is(back.outcome.ok, false)
  t.is(back.outcome.limit, true)
  t.alike(back.outcome.error, { name: 'LimitError', message: 'the call ran past 5000 ms', code: 'TIMEOUT' })
  t.is(back.files.blobsLength, 5_000_000_000)
  t.is(back.signature.byteLength, 64)
  t.is(back.nonce.byteLength, 16)
  t.ok(b4a.equals(back.files.dbTreeHash, entry.files.dbTreeHash))
})

test('receipt round-trips', (t) => {
  const r: Receipt = {
    index: 5,
    fork: 0,
    signer: crypto.randomBytes(32),
    roots: [{ index: 3, size: 1234, hash: crypto.randomBytes(32) }, { index: 8, size: 56, hash: crypto.randomBytes(32) }],
    after: [{ index: 13, size: 99, hash: crypto.randomBytes(32) }],
    signature: crypto.randomBytes(64),
    entry: encode(logEntry, okCall())
  }
  const buf = encode(receipt, r)
  t.alike(norm(decodeStrict(receipt, buf, 'receipt')), norm(r))
  const empty: Receipt = { ...r, index: 0, fork: 3, roots: [] }
  t.alike(norm(decodeStrict(receipt, encode(receipt, empty), 'receipt')), norm(empty))
  expectMalformed(t, () => decodeStrict(receipt, b4a.concat([buf, b4a.from([0])]), 'receipt'), /^MALFORMED_ENTRY: receipt has 1 trailing bytes$/, 'trailing byte')
  const v3 = b4a.from(buf)
  v3[0] = 3
  expectMalformed(t, () => decodeStrict(receipt, v3, 'receipt'), /^MALFORMED_ENTRY: receipt does not decode: unknown receipt version 3$/, 'version 3')
  // Signed at index + 1 (no subtrees after the entry): version 1, as before subtrees existed.
  const bare: Receipt = { ...empty, after: [] }
  const v1 = encode(receipt, bare)
  t.is(v1[0], 1, 'version 1')
  t.is(v1.byteLength, encode(receipt, empty).byteLength - 1 - 1 - 1 - 32, 'no subtree list')
  t.alike(norm(decodeStrict(receipt, v1, 'receipt')), norm(bare), 'a version 1 receipt')
  t.is(buf[0], 2, 'with subtrees: version 2')
  const v2empty = b4a.concat([b4a.from([2]), v1.subarray(1, 36), b4a.from([0]), v1.subarray(36)])
  expectMalformed(t, () => decodeStrict(receipt, v2empty, 'receipt'), /^MALFORMED_ENTRY: receipt is not in canonical form$/, 'version 2 with no subtrees')
  expectMalformed(t, () => decodeStrict(receipt, buf.subarray(0, buf.byteLength - 1), 'receipt'), /^MALFORMED_ENTRY: receipt does not decode/, 'truncated')
})

test('signed call round-trips', (t) => {
  const sc: SignedCall = {
    vmKey: crypto.randomBytes(32),
    method: 'list',
    args: b4a.from('[]'),
    nonce: crypto.randomBytes(16),
    publicKey: crypto.randomBytes(32),
    signature: crypto.randomBytes(64)
  }
  const buf = encode(signedCall, sc)
  t.alike(norm(decodeStrict(signedCall, buf, 'signed call')), norm(sc))
  expectMalformed(t, () => decodeStrict(signedCall, b4a.concat([buf, b4a.from([1, 2])]), 'call'), /^MALFORMED_ENTRY: call has 2 trailing bytes$/, 'trailing bytes')
  const v0 = b4a.from(buf)
  v0[0] = 0
  expectMalformed(t, () => decodeStrict(signedCall, v0, 'call'), /^MALFORMED_ENTRY: call does not decode: unknown signed call version 0$/, 'version 0')
  expectMalformed(t, () => decodeStrict(signedCall, buf.subarray(0, 40), 'call'), /^MALFORMED_ENTRY: call does not decode/, 'truncated')
  t.is((caught(() => encode(signedCall, { ...sc, nonce: crypto.randomBytes(15) })) as Error | null)?.message, 'Incorrect buffer size', 'a short nonce does not encode')
})

test('decodeEntry rejects malformed entries', (t) => {
  for (const [name, entry] of [['genesis', genesis()], ['load', load()], ['call', failedCall()], ['genesis with owners', { ...genesis(), governance: { owners: [crypto.randomBytes(32)] } }], ['upgrade', upgrade()]] as Array<[string, LogEntry]>) {
    const buf = encode(logEntry, entry)
    expectMalformed(t, () => decodeEntry(b4a.concat([buf, b4a.from([0])])), /^MALFORMED_ENTRY: log entry has 1 trailing bytes$/, name + ': trailing byte')
    expectMalformed(t, () => decodeEntry(b4a.concat([buf, b4a.alloc(9)]), 4), /^MALFORMED_ENTRY: log entry 4 has 9 trailing bytes$/, name + ': trailing bytes, with index')
    const v3 = b4a.from(buf)
    v3[0] = LOG_VERSION + 1
    expectMalformed(t, () => decodeEntry(v3), /^MALFORMED_ENTRY: log entry does not decode: unknown log format version 3$/, name + ': version 3')
    const v0 = b4a.from(buf)
    v0[0] = 0
    expectMalformed(t, () => decodeEntry(v0), /^MALFORMED_ENTRY: log entry does not decode: unknown log format version 0$/, name + ': version 0')
    const type9 = b4a.from(buf)
    type9[1] = 9
    expectMalformed(t, () => decodeEntry(type9, 3), /^MALFORMED_ENTRY: log entry 3 does not decode: unknown entry type 9$/, name + ': unknown type')
    let everyPrefix = true
    for (let n = 0; n < buf.byteLength; n++) {
      const err = caught(() => decodeEntry(buf.subarray(0, n)))
      if (!(err instanceof VmsError) || err.code !== 'MALFORMED_ENTRY') {
        everyPrefix = false
        t.fail(`${name}: prefix of ${n}/${buf.byteLength} bytes gave ${String(err)}`)
        break
      }
    }
    t.ok(everyPrefix, name + ': every truncation is MALFORMED_ENTRY')
  }
  expectMalformed(t, () => decodeEntry(new Uint8Array(0)), /^MALFORMED_ENTRY: log entry does not decode/, 'empty buffer')
  // Entries that format 1 cannot hold, marked format 1 (and a load marked format 2): refused.
  const up = encode(logEntry, upgrade())
  up[0] = 1
  expectMalformed(t, () => decodeEntry(up), /^MALFORMED_ENTRY: log entry does not decode: an upgrade entry has no format version 1$/, 'an upgrade in format 1')
  const ld = encode(logEntry, load())
  ld[0] = 2
  expectMalformed(t, () => decodeEntry(ld), /^MALFORMED_ENTRY: log entry does not decode: a load entry has no format version 2$/, 'a load in format 2')
})

test('decodeEntry rejects bad outcome flags', (t) => {
  const buf = encode(logEntry, { ...okCall(), outcome: { ok: true, limit: true, value: b4a.from('1'), error: null } })
  expectMalformed(t, () => decodeEntry(buf), /^MALFORMED_ENTRY: log entry does not decode: bad outcome flags$/, 'ok and limit both set')
})

test('one entry has exactly one encoding (module doc)', (t) => {
  // "Decoders refuse unknown versions and trailing bytes, so one entry has
  // exactly one encoding": every accepted buffer must re-encode to itself.
  const entry = load()
  const buf = encode(logEntry, entry)
  // LOAD: version, type, reason (uint, one byte here), time, ...
  t.is(buf[2], LoadReason.RESTART, 'reason is one byte')
  // The same reason as 0xfd + uint16 LE: the same value in 2 more bytes.
  const nonMinimal = b4a.concat([buf.subarray(0, 2), b4a.from([0xfd, entry.reason, 0]), buf.subarray(3)])
  const err = caught(() => decodeEntry(nonMinimal))
  const how = err === null ? 'it decoded, and re-encodes to ' + (b4a.equals(encode(logEntry, decodeEntry(nonMinimal)), buf) ? 'the canonical bytes' : 'other bytes') : String(err)
  t.ok(err instanceof VmsError && err.code === 'MALFORMED_ENTRY', 'a non-minimal uint is MALFORMED_ENTRY (' + how + ')')

  // Invalid UTF-8 in a string decodes (with U+FFFD) and re-encodes differently.
  const c = okCall()
  c.method = 'ab'
  const cbuf = encode(logEntry, c)
  const at = 1 + 1 + 32 + 64 // version, type, publicKey, signature, then the method
  t.alike(Array.from(cbuf.subarray(at, at + 3)), [2, 0x61, 0x62], 'length-prefixed "ab"')
  const badUtf8 = b4a.from(cbuf)
  badUtf8[at + 1] = 0xff
  const err2 = caught(() => decodeEntry(badUtf8))
  t.ok(err2 instanceof VmsError && err2.code === 'MALFORMED_ENTRY', 'invalid UTF-8 in a string is MALFORMED_ENTRY')
})

// ---------------------------------------------------------------------------

test('callSignable: namespace prefix and every field bound', (t) => {
  const [nsCall] = crypto.namespace('vms-node', 1) as [Buffer]
  const vmKey = crypto.randomBytes(32)
  const args = b4a.from('[1,"x"]')
  const nonce = crypto.randomBytes(16)
  const base = callSignable(vmKey, 'RSVP', args, nonce)
  t.alike(base.subarray(0, 32), nsCall, 'starts with the 32-byte call namespace')
  t.alike(base.subarray(32, 64), vmKey, 'then the VM key')
  t.is(base.byteLength, 32 + 32 + 1 + 4 + 1 + args.byteLength + 16)
  t.alike(callSignable(vmKey, 'RSVP', args, nonce), base, 'deterministic')

  const other = b4a.from(nonce)
  other[15] = other[15]! ^ 1
  const variants: Array<[string, Buffer]> = [
    ['vmKey', callSignable(crypto.randomBytes(32), 'RSVP', args, nonce)],
    ['method', callSignable(vmKey, 'RSVp', args, nonce)],
    ['args', callSignable(vmKey, 'RSVP', b4a.from('[1,"y"]'), nonce)],
    ['nonce', callSignable(vmKey, 'RSVP', args, other)],
    ['method/args boundary', callSignable(vmKey, 'RSV', b4a.from('P[1,"x"]'), nonce)]
  ]
  for (const [name, buf] of variants) {
    t.absent(b4a.equals(buf, base), name + ' changes the signable')
    t.alike(buf.subarray(0, 32), nsCall, name + ': same namespace')
  }
})

test('wire answers round-trip, errors included; an error\'s layout is pinned', (t) => {
  const remote = { name: 'TypeError', message: 'boom', code: 'CALL_FAILED' }
  const withRemote = { code: 'CALL_FAILED', message: 'CALL_FAILED: RSVP failed', remote }
  const plain = { code: 'QUEUE_FULL', message: 'QUEUE_FULL: wait', remote: null }
  const cases: Array<[string, Encoding<any>, unknown]> = [
    ['response, an error with the script\'s own', response, { id: 7, error: withRemote, value: b4a.alloc(0), receipt: null }],
    ['response, an error', response, { id: 8, error: plain, value: b4a.alloc(0), receipt: null }],
    ['response, a value', response, { id: 9, error: null, value: b4a.from('[1]'), receipt: null }],
    ['view response, an error with the script\'s own', viewResponse, { id: 1, length: 5, value: b4a.alloc(0), error: withRemote }],
    ['view response, a value', viewResponse, { id: 2, length: 5, value: b4a.from('"x"'), error: null }],
    ['blocks response, an error', blocksResponse, { id: 3, start: 10, blocks: [], error: plain }],
    ['blocks response, blocks', blocksResponse, { id: 4, start: 10, blocks: [b4a.from('a'), b4a.from('bc')], error: null }],
    ['control response, an error', controlResponse, { id: 5, error: plain, result: b4a.alloc(0) }],
    ['control response, a result', controlResponse, { id: 6, error: null, result: b4a.from('{}') }]
  ]
  for (const [name, enc, value] of cases) t.alike(norm(decodeStrict(enc, encode(enc, value), name)), norm(value), name)
  // Blocks and control answers carry no script error: it is left out, not sent.
  const dropped = decodeStrict(blocksResponse, encode(blocksResponse, { id: 3, start: 0, blocks: [], error: withRemote }), 'blocks')
  t.is(dropped.error?.remote, null, 'a blocks answer drops the script\'s error')
  const str = (x: string) => [x.length, ...b4a.from(x)]
  t.alike([...encode(response, { id: 7, error: withRemote, value: b4a.alloc(0), receipt: null })],
    [7, 3, ...str(withRemote.code), ...str(withRemote.message), ...str(remote.name), ...str(remote.message), ...str(remote.code)], 'response: id, flags, code, message, then the script\'s name, message, code')
  t.alike([...encode(controlResponse, { id: 5, error: withRemote, result: b4a.alloc(0) })],
    [5, 1, ...str(withRemote.code), ...str(withRemote.message)], 'control: id, flag, code, message')
})

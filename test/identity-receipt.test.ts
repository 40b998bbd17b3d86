import test, { type Test } from 'brittle'
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import id from 'hypercore-id-encoding'
import Corestore from 'corestore'
import { createRequire } from 'node:module'
import type Hypercore from 'hypercore'
import { Identity, makeNonce, nonceTime, verifyCallSignature, toKey, formatKey } from '../src/identity.js'
import { MerkleRoots, isSignerOf, rootsFitLength, coverNodes, leafNode, treeHash, parentHash, dataHash } from '../src/merkle.js'
import { rootsOfCore } from '../src/merkle-core.js'
import { verifyReceipt, signedLength, ReceiptCache } from '../src/receipt.js'
import { VmsError } from '../src/errors.js'
import { encode, logEntry, EntryType, LoadReason, type CallEntry, type LoadEntry, type Receipt, type SignedCall } from '../src/messages/index.js'
import { caught } from './helpers/index.js'

// hypercore stores a default-manifest (v1) core's signature as a multisig
// envelope (68 bytes); the raw ed25519 signature is inside.
const multisig = createRequire(import.meta.url)('hypercore/lib/multisig.js') as {
  inflate(data: Uint8Array): { proofs: Array<{ signer: number; signature: Buffer; patch: number }>; patch: unknown[] }
}

function rawSignature(core: Hypercore): Buffer | null {
  const sig = core.state.signature
  if (!sig) return null
  const { proofs } = multisig.inflate(sig)
  return proofs.length === 1 && proofs[0]!.signer === 0 ? proofs[0]!.signature : null
}

const Z32 = /^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/

function codeOf(fn: () => unknown): string | null {
  const err = caught(fn)
  if (err === null) return null
  return err instanceof VmsError ? err.code : 'not a VmsError: ' + String(err)
}

/** Uint8Arrays (Buffer or not) as 'hex:...' strings, so values compare by content. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return 'hex:' + b4a.toString(v, 'hex')
  if (Array.isArray(v)) return v.map(norm)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]))
  return v
}

function flip(buf: Uint8Array, i = 0): Buffer {
  const out = b4a.from(buf)
  out[i] = out[i]! ^ 1
  return out
}

async function openCore(t: Test, name = 'x'): Promise<Hypercore> {
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  const core = store.get({ name })
  await core.ready()
  return core
}

// ---------------------------------------------------------------------------
// Identity

test('Identity.generate: id is z-base-32 of the public key', (t) => {
  const a = Identity.generate()
  const b = Identity.generate()
  t.is(a.publicKey.byteLength, 32)
  t.is(a.secretKey.byteLength, 64)
  t.ok(Z32.test(a.id), a.id)
  t.is(a.id.length, 52)
  t.alike(id.decode(a.id), a.publicKey)
  t.is(formatKey(a.publicKey), a.id)
  t.not(a.id, b.id)
  const seed = crypto.randomBytes(32)
  t.is(Identity.fromSeed(seed).id, Identity.fromSeed(seed).id, 'fromSeed is deterministic')
})

test('sign: canonical args, a timed nonce, a valid signature', (t) => {
  const alice = Identity.generate()
  const vmKey = crypto.randomBytes(32)
  const before = Date.now()
  const call = alice.sign(vmKey, 'RSVP', [{ b: 1, a: -0 }, 'x', [undefined]])
  const after = Date.now()
  t.is(b4a.toString(call.args), '[{"a":0,"b":1},"x",[null]]')
  t.is(call.method, 'RSVP')
  t.alike(call.vmKey, vmKey)
  t.alike(call.publicKey, alice.publicKey)
  t.is(call.nonce.byteLength, 16)
  t.is(call.signature.byteLength, 64)
  const time = nonceTime(call.nonce)
  t.ok(time >= before && time <= after, `nonce time ${time} within [${before}, ${after}]`)
  t.is(call.nonce[0], 0)
  t.is(call.nonce[1], 0)
  t.is(verifyCallSignature(call), true)
  t.is(b4a.toString(alice.sign(vmKey, 'list').args), '[]', 'no args is []')
  const other = alice.sign(vmKey, 'RSVP', [{ b: 1, a: -0 }, 'x', [undefined]])
  t.absent(b4a.equals(other.nonce, call.nonce), 'nonces differ')
})

test('sign: explicit time, and nonceTime/makeNonce', (t) => {
  const alice = Identity.generate()
  const call = alice.sign(crypto.randomBytes(32), 'm', [], { time: 1_700_000_000_123 })
  t.is(nonceTime(call.nonce), 1_700_000_000_123)
  const n = makeNonce(2 ** 48 - 1)
  t.is(nonceTime(n), 2 ** 48 - 1)
  t.is(nonceTime(makeNonce(0)), 0)
  // nonceTime on a view into a bigger buffer
  const big = b4a.concat([b4a.alloc(5, 0xff), n])
  t.is(nonceTime(big.subarray(5)), 2 ** 48 - 1)
})

test('verifyCallSignature: any change breaks it', (t) => {
  const alice = Identity.generate()
  const bob = Identity.generate()
  const call = alice.sign(crypto.randomBytes(32), 'RSVP', [true, 'yes'])
  const cases: Array<[string, SignedCall]> = [
    ['method', { ...call, method: 'list' }],
    ['args', { ...call, args: b4a.from('[false,"yes"]') }],
    ['args (one byte)', { ...call, args: flip(call.args, 1) }],
    ['nonce', { ...call, nonce: flip(call.nonce, 15) }],
    ['nonce time', { ...call, nonce: flip(call.nonce, 7) }],
    ['vmKey', { ...call, vmKey: crypto.randomBytes(32) }],
    ['signature', { ...call, signature: flip(call.signature, 10) }],
    ['publicKey', { ...call, publicKey: bob.publicKey }],
    ['another caller\'s signature', { ...call, signature: bob.sign(call.vmKey, 'RSVP', [true, 'yes']).signature }]
  ]
  t.is(verifyCallSignature(call), true, 'unchanged')
  for (const [name, changed] of cases) t.is(verifyCallSignature(changed), false, name)
})

test('toKey', (t) => {
  const key = crypto.randomBytes(32)
  const z = id.encode(key)
  t.alike(toKey(z), key, 'z-base-32')
  t.alike(toKey(b4a.toString(key, 'hex')), key, 'hex')
  t.alike(toKey(b4a.toString(key, 'hex').toUpperCase()), key, 'upper-case hex')
  t.alike(toKey(key), key, 'Buffer')
  const alice = Identity.generate()
  t.alike(alice.sign(z, 'm').vmKey, key, 'sign accepts z-base-32')
  t.alike(alice.sign(b4a.toString(key, 'hex'), 'm').vmKey, key, 'sign accepts hex')

  const junk: Array<[string, Uint8Array | string]> = [
    ['empty string', ''],
    ['word', 'hello'],
    ['63 hex digits', b4a.toString(key, 'hex').slice(1)],
    ['65 hex digits', b4a.toString(key, 'hex') + '0'],
    ['64 chars, not hex', 'g'.repeat(64)],
    ['51 z-base-32 chars', z.slice(1)],
    ['52 chars outside z-base-32', '0'.repeat(52)],
    ['31-byte Buffer', crypto.randomBytes(31)],
    ['33-byte Buffer', crypto.randomBytes(33)],
    ['empty Buffer', b4a.alloc(0)]
  ]
  for (const [name, value] of junk) t.is(codeOf(() => toKey(value)), 'MALFORMED_REQUEST', name)
  t.is(codeOf(() => alice.sign('nope', 'm')), 'MALFORMED_REQUEST', 'sign with a junk key')
  t.is(codeOf(() => toKey(null as unknown as string)), 'MALFORMED_REQUEST', 'null')
})

test('toKey accepts a plain Uint8Array ("or bytes", typed Uint8Array)', (t) => {
  const key = crypto.randomBytes(32)
  const plain = new Uint8Array(key)
  let out: Buffer | null = null
  const err = caught(() => { out = toKey(plain) })
  t.absent(err, 'no error: ' + String(err))
  t.ok(out !== null && b4a.equals(out, key), 'the same key')
})

test('sign rejects args that are not canonical JSON', (t) => {
  const alice = Identity.generate()
  const vmKey = crypto.randomBytes(32)
  const err = caught(() => alice.sign(vmKey, 'm', [1, NaN])) as VmsError | null
  t.ok(err instanceof VmsError)
  t.is(err?.code, 'NOT_ENCODABLE')
  t.is(err?.message, 'NOT_ENCODABLE: args of m: NOT_ENCODABLE: NaN is not a JSON number at $[1]')
  t.is(codeOf(() => alice.sign(vmKey, 'm', [() => 1])), 'NOT_ENCODABLE', 'function')
  t.is(codeOf(() => alice.sign(vmKey, 'm', [new Map()])), 'NOT_ENCODABLE', 'Map')
  t.is(codeOf(() => alice.sign(vmKey, 'm', [10n])), 'NOT_ENCODABLE', 'bigint')
  let deep: unknown = 1
  for (let i = 0; i < 70; i++) deep = [deep]
  t.is(codeOf(() => alice.sign(vmKey, 'm', [deep])), 'TOO_LARGE', 'too deep')
})

// ---------------------------------------------------------------------------
// MerkleRoots against a real hypercore

test('MerkleRoots matches hypercore, block by block', async (t) => {
  const core = await openCore(t)
  const roots = new MerkleRoots()
  t.alike(roots.hash(), await core.treeHash(0), 'empty tree')
  t.is(roots.byteLength(), 0)
  const blocks: Buffer[] = []
  let signaturesOk = 0
  let hashesOk = 0
  for (let n = 1; n <= 20; n++) {
    const block = crypto.randomBytes(1 + Math.floor(Math.random() * 300))
    blocks.push(block)
    await core.append(block)
    roots.append(block)
    t.is(roots.length, n)
    t.is(core.length, n)
    if (b4a.equals(roots.hash(), await core.treeHash())) hashesOk++
    else t.fail(`tree hash differs at length ${n}`)
    t.is(roots.byteLength(), core.byteLength, `byteLength at ${n}`)
    t.ok(rootsFitLength(roots.roots, n), `roots fit length ${n}`)
    const sig = rawSignature(core)
    const signable = roots.signable(core.key, core.fork)
    if (sig && crypto.verify(signable, sig, core.keyPair!.publicKey) &&
        b4a.equals(sig, crypto.sign(signable, core.keyPair!.secretKey)) &&
        b4a.equals(signable, await (core as unknown as { signable(length: number, fork: number): Promise<Buffer> }).signable(n, core.fork))) signaturesOk++
    else t.fail(`hypercore's signature does not verify over MerkleRoots.signable at ${n}`)
  }
  t.is(hashesOk, 20, 'tree hash equal at every length')
  t.is(signaturesOk, 20, 'hypercore signs exactly MerkleRoots.signable at every length')

  for (const k of [0, 1, 2, 3, 7, 8, 13, 16, 19, 20]) {
    const of = await rootsOfCore(core, k)
    t.is(of.length, k)
    t.alike(of.hash(), await core.treeHash(k), `ofCore(${k}) hash`)
    // the same as feeding the first k blocks
    const fed = new MerkleRoots()
    for (const b of blocks.slice(0, k)) fed.append(b)
    t.alike(of.roots.map((r) => [r.index, r.size]), fed.roots.map((r) => [r.index, r.size]), `ofCore(${k}) roots`)
    // and it continues correctly from there
    const cont = of.clone()
    for (const b of blocks.slice(k)) cont.append(b)
    t.alike(cont.hash(), roots.hash(), `ofCore(${k}) + the rest`)
  }
  t.ok(rootsFitLength([], 0))
  t.absent(rootsFitLength(roots.roots, 19))
})

test('treeHash, parentHash, dataHash hash as hypercore-crypto does: big indexes and sizes, big blocks, many roots', (t) => {
  const big = [0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 51 + 3]
  const node = (index: number, size: number) => ({ index, size, hash: crypto.randomBytes(32) })
  let same = 0
  let cases = 0
  for (let count = 0; count <= 64; count += count < 4 ? 1 : 20) {
    const roots = Array.from({ length: count }, (_, i) => node(big[i % big.length]!, big[(i * 7 + 3) % big.length]!))
    cases++
    if (b4a.equals(treeHash(roots), crypto.tree(roots))) same++
    else t.fail(`tree of ${count} roots`)
  }
  for (const a of big) {
    for (const b of big) {
      const x = node(a, b)
      const y = node(b + 1, Math.floor(a / 2))
      cases += 2
      if (b4a.equals(parentHash(x, y), crypto.parent(x, y))) same++
      else t.fail(`parent of sizes ${b}, ${Math.floor(a / 2)}`)
      if (b4a.equals(parentHash(y, x), crypto.parent(y, x))) same++
      else t.fail('parent, in either order')
    }
  }
  for (const n of [0, 1, 100, 4087, 4096, 4097, 70000]) {
    const block = crypto.randomBytes(n)
    cases++
    if (b4a.equals(dataHash(block), crypto.data(block))) same++
    else t.fail(`data of ${n} bytes`)
  }
  t.is(same, cases, `all ${cases} hashes equal`)
  const roots = [node(1, 2), node(5, 6)]
  const h = treeHash(roots)
  treeHash([node(9, 9)])
  t.alike(h, crypto.tree(roots), 'a hash returned is not overwritten by the next')
})

test('coverNodes: the tree at `from` plus the cover is the tree at `to`, for every pair', (t) => {
  const blocks = Array.from({ length: 40 }, (_, i) => crypto.randomBytes(1 + ((i * 37) % 90)))
  const prefix: MerkleRoots[] = [new MerkleRoots()]
  for (const b of blocks) { const r = prefix[prefix.length - 1]!.clone(); r.append(b); prefix.push(r) }
  const leaf = (i: number) => leafNode(i, blocks[i]!)
  let ok = 0
  let most = 0
  for (let from = 0; from <= 40; from++) {
    const memo = new Map()
    for (let to = from; to <= 40; to++) {
      const cover = coverNodes(from, to, leaf, memo)
      most = Math.max(most, cover.length)
      const tree = prefix[from]!.clone()
      for (const node of cover) tree.appendNode(node)
      if (tree.length === to && b4a.equals(tree.hash(), prefix[to]!.hash()) && tree.byteLength() === prefix[to]!.byteLength()) ok++
      else t.fail(`cover of [${from}, ${to})`)
    }
  }
  t.is(ok, 41 * 42 / 2, 'every cover reaches the same tree')
  t.ok(most <= 2 * Math.ceil(Math.log2(40)), `at most two subtrees per level (most: ${most})`)
  const tree = prefix[5]!.clone()
  t.exception(() => tree.appendNode(leaf(6)), /does not start at leaf 5/, 'a node that does not start at the length')
  t.exception(() => tree.appendNode(coverNodes(4, 8, leaf)[0]!), /does not start at leaf 5/, 'a subtree that overlaps the tree')
  t.is(tree.length, 5, 'a refused node changes nothing')
})

test('clone is independent', (t) => {
  const a = new MerkleRoots()
  a.append(b4a.from('one'))
  const b = a.clone()
  b.append(b4a.from('two'))
  t.is(a.length, 1)
  t.is(a.roots.length, 1)
  t.is(b.length, 2)
  t.absent(b4a.equals(a.hash(), b.hash()))
})

test('isSignerOf', async (t) => {
  const core = await openCore(t)
  t.is(isSignerOf(core.key, core.keyPair!.publicKey), true)
  t.is(isSignerOf(core.key, crypto.keyPair().publicKey), false)
  t.is(isSignerOf(crypto.randomBytes(32), core.keyPair!.publicKey), false)
})

// ---------------------------------------------------------------------------
// Receipts

function files() {
  return { dbLength: 1, dbTreeHash: crypto.randomBytes(32), blobsLength: 0, blobsTreeHash: crypto.randomBytes(32) }
}

function callEntry(call: SignedCall): CallEntry {
  return {
    type: EntryType.CALL,
    publicKey: call.publicKey,
    signature: call.signature,
    method: call.method,
    args: call.args,
    nonce: call.nonce,
    time: Date.now(),
    seed: crypto.randomBytes(16),
    oracles: [],
    outcome: { ok: true, limit: false, value: b4a.from('"done"'), error: null },
    files: files()
  }
}

function loadEntry(): LoadEntry {
  return {
    type: EntryType.LOAD,
    reason: LoadReason.WAKE,
    time: Date.now(),
    seed: crypto.randomBytes(16),
    note: '',
    outcome: { ok: true, limit: false, value: b4a.alloc(0), error: null },
    files: files()
  }
}

/** Append `entry` to the core and build its receipt by hand. */
async function appendWithReceipt(core: Hypercore, entry: Buffer): Promise<Receipt> {
  const before = await rootsOfCore(core, core.length)
  const after = before.clone()
  after.append(entry)
  const index = core.length
  await core.append(entry)
  const signature = crypto.sign(after.signable(core.key, core.fork), core.keyPair!.secretKey)
  return { index, fork: core.fork, signer: core.keyPair!.publicKey, roots: before.roots.slice(), after: [], signature, entry }
}

test('verifyReceipt: a hand-made receipt verifies, and every change breaks it', async (t) => {
  const core = await openCore(t, 'log')
  for (let i = 0; i < 5; i++) await core.append(crypto.randomBytes(10 + i * 7))
  const alice = Identity.generate()
  const call = alice.sign(core.key, 'RSVP', [true, 'yes'])
  const entry = callEntry(call)
  const receipt = await appendWithReceipt(core, encode(logEntry, entry))
  t.is(receipt.index, 5)
  t.alike(receipt.signature, rawSignature(core), 'the same signature hypercore made (ed25519 is deterministic)')

  const back = verifyReceipt(core.key, receipt)
  t.alike(norm(back), norm(entry), 'returns the decoded call entry')
  t.alike(norm(verifyReceipt(core.key, receipt, call)), norm(entry), 'with the matching call')

  // later appends do not matter: the receipt is about length index + 1
  await core.append(crypto.randomBytes(100))
  t.alike(norm(verifyReceipt(core.key, receipt, call)), norm(entry), 'still verifies after later appends')

  const rootsChanged = receipt.roots.map((r, i) => i === 0 ? { ...r, hash: flip(r.hash, 31) } : r)
  const rootsResized = receipt.roots.map((r, i) => i === 0 ? { ...r, size: r.size + 1 } : r)
  const stranger = crypto.keyPair()
  const strangerSigned = { ...receipt, signer: stranger.publicKey }
  const cases: Array<[string, Receipt, RegExp, SignedCall?]> = [
    ['signature flipped', { ...receipt, signature: flip(receipt.signature, 5) }, /signature does not verify/],
    ['entry byte changed', { ...receipt, entry: flip(receipt.entry, receipt.entry.byteLength - 1) }, /signature does not verify/],
    ['entry byte appended', { ...receipt, entry: b4a.concat([receipt.entry, b4a.from([0])]) }, /signature does not verify/],
    ['index + 1', { ...receipt, index: receipt.index + 1 }, /roots do not fit|signature does not verify/],
    ['index - 1', { ...receipt, index: receipt.index - 1 }, /roots do not fit|signature does not verify/],
    ['root hash changed', { ...receipt, roots: rootsChanged }, /signature does not verify/],
    ['root size changed', { ...receipt, roots: rootsResized }, /signature does not verify/],
    ['a root dropped', { ...receipt, roots: receipt.roots.slice(1) }, /roots do not fit/],
    ['fork changed', { ...receipt, fork: receipt.fork + 1 }, /signature does not verify/],
    ['signer is another key', strangerSigned, /not this VM's/],
    ['signer is another key, re-signed by it', { ...strangerSigned, signature: crypto.sign(new MerkleRoots(receipt.roots, receipt.index).signable(core.key, 0), stranger.secretKey) }, /not this VM's/],
    ['another call', receipt, /names another call/, alice.sign(core.key, 'RSVP', [true, 'yes'])],
    ['another caller', receipt, /names another call/, { ...call, publicKey: Identity.generate().publicKey }]
  ]
  for (const [name, r, message, c] of cases) {
    const err = caught(() => verifyReceipt(core.key, r, c))
    t.ok(err instanceof VmsError, name + ': a VmsError')
    t.is((err as VmsError | null)?.code, 'BAD_RECEIPT', name + ': BAD_RECEIPT')
    t.ok(message.test((err as Error | null)?.message ?? ''), name + ': ' + (err as Error | null)?.message)
  }
  t.is(codeOf(() => verifyReceipt(crypto.randomBytes(32), receipt)), 'BAD_RECEIPT', 'another VM key')
})

test('verifyReceipt: a receipt signed at the end of its group, with the subtrees after its entry', async (t) => {
  const core = await openCore(t, 'group')
  for (let i = 0; i < 3; i++) await core.append(crypto.randomBytes(20))
  const alice = Identity.generate()
  const calls = Array.from({ length: 6 }, (_, i) => alice.sign(core.key, 'RSVP', [i % 2 === 0, 'n' + i]))
  const blocks = calls.map((c) => encode(logEntry, callEntry(c)))
  const start = core.length
  const before = await rootsOfCore(core, start)
  await core.append(blocks)
  const signature = rawSignature(core)!
  const leaf = (i: number) => leafNode(i, blocks[i - start]!)
  const receipts: Receipt[] = []
  const roots = before.clone()
  for (let i = 0; i < blocks.length; i++) {
    const index = start + i
    receipts.push({ index, fork: 0, signer: core.keyPair!.publicKey, roots: roots.roots.slice(), after: coverNodes(index + 1, core.length, leaf), signature, entry: blocks[i]! })
    roots.append(blocks[i]!)
  }
  const cache = new ReceiptCache()
  for (let i = 0; i < receipts.length; i++) {
    t.is(verifyReceipt(core.key, receipts[i]!, calls[i], cache).method, 'RSVP', `receipt ${i} verifies`)
    t.is(signedLength(receipts[i]!), core.length, `receipt ${i} covers the group's end`)
  }
  t.is(receipts[receipts.length - 1]!.after.length, 0, 'the last of the group needs no subtrees')

  const r = receipts[1]!
  const flipped = r.after.map((n, i) => i === 0 ? { ...n, hash: flip(n.hash, 0) } : n)
  const cases: Array<[string, Receipt, RegExp]> = [
    ['a subtree hash changed', { ...r, after: flipped }, /signature does not verify/],
    ['a subtree dropped', { ...r, after: r.after.slice(0, -1) }, /signature does not verify/],
    ['the subtrees reordered', { ...r, after: r.after.slice().reverse() }, /do not follow one another/],
    ['a subtree repeated', { ...r, after: [...r.after, r.after[r.after.length - 1]!] }, /do not follow one another/],
    ['far too many subtrees', { ...r, after: Array.from({ length: 200 }, () => r.after[0]!) }, /carries 200 subtrees/],
    ['its entry changed (the signature is in the cache)', { ...r, entry: flip(r.entry, r.entry.byteLength - 1) }, /signature does not verify/],
    ['another receipt\'s subtrees', { ...r, after: receipts[2]!.after }, /signature does not verify|do not follow/]
  ]
  for (const [name, bad, message] of cases) {
    for (const c of [undefined, cache]) {
      const err = caught(() => verifyReceipt(core.key, bad, undefined, c)) as VmsError | null
      t.is(err?.code, 'BAD_RECEIPT', name + (c ? ' (with the cache)' : ''))
      t.ok(message.test(err?.message ?? ''), name + ': ' + err?.message)
    }
  }
})

test('verifyReceipt: an entry that is not a call, or does not decode', async (t) => {
  const core = await openCore(t, 'log')
  await core.append(crypto.randomBytes(50))
  const load = await appendWithReceipt(core, encode(logEntry, loadEntry()))
  t.is(load.index, 1)
  let err = caught(() => verifyReceipt(core.key, load)) as VmsError | null
  t.is(err?.code, 'BAD_RECEIPT')
  t.is(err?.message, 'BAD_RECEIPT: the receipt names an entry that is not a call')

  const junk = await appendWithReceipt(core, b4a.from('not a log entry'))
  err = caught(() => verifyReceipt(core.key, junk)) as VmsError | null
  t.is(err?.code, 'BAD_RECEIPT')
  t.is(err?.message, 'BAD_RECEIPT: the receipt\'s entry does not decode')

  // a call as the very first entry (no roots)
  const core2 = await openCore(t, 'first')
  const alice = Identity.generate()
  const call = alice.sign(core2.key, 'm', [])
  const first = await appendWithReceipt(core2, encode(logEntry, callEntry(call)))
  t.is(first.index, 0)
  t.is(first.roots.length, 0)
  t.is(verifyReceipt(core2.key, first, call).method, 'm')
  t.is(codeOf(() => verifyReceipt(core.key, first, call)), 'BAD_RECEIPT', 'receipt of one core against another core\'s key')
})

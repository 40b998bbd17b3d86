import test from 'brittle'
import b4a from 'b4a'
import c from 'compact-encoding'
import { VmsNode, Identity, verifyReceipt, formatKey, replay, type VmsError } from '../src/index.js'
import crypto from 'hypercore-crypto'
import caps from 'hypercore/lib/caps.js'
import { PROTOCOL, Role, hello, request, response, proofSignable, type Response } from '../src/messages/wire.js'
import { encode, decodeStrict, decodeEntry, logEntry, EntryType, type CallEntry } from '../src/messages/index.js'
import { MerkleRoots } from '../src/merkle.js'
import { rootsOfCore } from '../src/merkle-core.js'
import { RSVP, until } from './helpers/index.js'
import { testnet, node, rogueServer, rogueClient, rsvpAndCaller } from './helpers/net.js'

test('node: bad input to the library API is refused with a clear error, before anything is sent or made', async (t) => {
  const { hostNode, vm, caller: alice, handle } = await rsvpAndCaller(t)
  const refused = async (what: string, p: Promise<unknown>, code: string, message: RegExp) => {
    const err = await p.then(() => null, (e: VmsError) => e)
    t.ok(err?.code === code && message.test(err.message), `${what}: ${err?.message ?? 'no error'}`)
  }
  const length = vm.log.length
  await refused('call()', (handle.call as (...a: unknown[]) => Promise<unknown>)(), 'MALFORMED_REQUEST', /the method must be a name \(a string\), not undefined/)
  await refused('call(123)', handle.call(123 as never), 'MALFORMED_REQUEST', /not 123/)
  await refused('a method through invoke', handle.invoke({} as never), 'MALFORMED_REQUEST', /not an object/)
  await refused('view(42)', handle.view(42 as never), 'MALFORMED_REQUEST', /the view must be a name/)
  await refused('readFile(123)', handle.files.readFile(123 as never), 'MALFORMED_REQUEST', /a path must be a string, say '\/rsvps', not 123/)
  await refused('readdir(null)', handle.files.readdir(null as never), 'MALFORMED_REQUEST', /not null/)
  await refused('readFile in hex', handle.files.readFile('/rsvps', 'hex' as never), 'MALFORMED_REQUEST', /bytes, or text with 'utf8', not "hex"/)
  await refused('readFile("/")', handle.files.readFile('/'), 'NOT_FOUND', /the top directory/)
  await refused('waitFor(-1)', handle.files.waitFor(-1), 'MALFORMED_REQUEST', /a files version is a whole number/)
  await refused('waitFor("x")', handle.files.waitFor('x' as never), 'MALFORMED_REQUEST', /not "x"/)
  await refused('vouchers(null)', handle.vouchers(null as never), 'BAD_RECEIPT', /vouchers takes a receipt/)
  await refused('audit from "a"', alice.audit(vm.key, { from: 'a' as never }), 'REPLAY_INVALID', /cannot replay entries a to the end/)
  await refused('audit to -1', alice.audit(vm.key, { to: -1 }), 'REPLAY_INVALID', /1 to -1/)
  await refused('host(123)', hostNode.host(123 as never, { name: 'x' }), 'BAD_OPTION', /the script must be its source text/)
  await refused('host with no name', hostNode.host(RSVP, {} as never), 'BAD_OPTION', /a VM needs a name/)
  await refused('host with a name of control characters', hostNode.host(RSVP, { name: 'a\nb' }), 'BAD_OPTION', /not "a\\nb"/)
  await refused('host with a long filename', hostNode.host(RSVP, { name: 'y', filename: 'f'.repeat(256) }), 'BAD_OPTION', /a filename is 1 to 255 characters/)
  await refused('replay({})', replay({} as never), 'MALFORMED_REQUEST', /replay takes \{ log, drive \}/)
  t.exception(() => alice.identity.sign(vm.key, 'RSVP', 'yes' as never), /MALFORMED_REQUEST: the args of RSVP must be an array/)
  t.alike(hostNode.hosted.map((h) => h.key), [vm.key], 'no VM was made')
  t.is(vm.log.length, length, 'nothing was logged')
  t.alike(await handle.files.stat('/'), { size: 0, mtime: new Date(0), isFile: false, isDirectory: true }, 'stat of the top directory (hyperdrive has no entry for it)')
  t.alike(await handle.files.stat(''), await handle.files.stat('/'), 'an empty path is the top')
  t.alike(await handle.files.readdir('/rsvps/../..'), ['rsvps'], '.. stops at the top')
})

test('node: calls sent in one tick, and the answers of one group, travel in a few frames, not one each', async (t) => {
  const { hostNode, vm, caller: alice, handle } = await rsvpAndCaller(t)
  await handle.call('RSVP', true, 'first')
  // Each 'data' event of a secret stream is one decrypted frame.
  let inbound = 0
  let outbound = 0
  for (const conn of alice.swarm.connections) conn.on('data', () => inbound++)
  for (const conn of hostNode.swarm.connections) conn.on('data', () => outbound++)
  const answers = await Promise.all(Array.from({ length: 96 }, (_, i) => handle.callWithReceipt('RSVP', i % 2 === 0, 'r' + i)))
  t.is(answers.length, 96)
  t.ok(answers.every((a, i) => verifyReceipt(vm.key, a.receipt).method === 'RSVP' && a.receipt.index > 0 && (i === 0 || a.receipt.index > answers[i - 1]!.receipt.index)), 'every answer has its own receipt, in order')
  // (Replication and head exchange share the connection: a few frames more; one per message would be 96 or more.)
  t.ok(outbound <= 48, `the host got the 96 calls in ${outbound} frames`)
  t.ok(inbound <= 48, `the caller got the 96 answers in ${inbound} frames`)
})

test('node: serve a VM, dial it by key, call it, read its files, verify the receipt', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp', filename: 'rsvp.js' })
  const alice = await node(t, net)
  const handle = await alice.dial(formatKey(vm.key))
  const info = await handle.info()
  t.alike(info.methods, ['RSVP', 'list'])
  t.is(info.trust, 'trustless')
  t.alike(b4a.from(info.filesKey), vm.drive.key)
  t.is(await handle.RSVP!(true, 'yes'), undefined)
  const { receipt } = await handle.callWithReceipt('RSVP', false, 'changed my mind')
  t.is(verifyReceipt(vm.key, receipt).method, 'RSVP')
  t.is((await handle.info()).length, vm.log.length, 'info() gives the log length now, not as of the connection')
  t.alike(await handle.list!(), [alice.identity.id + '.json'])
  t.alike(await handle.files.readdir('/rsvps'), [alice.identity.id + '.json'])
  t.is(await handle.files.readFile('/rsvps/' + alice.identity.id + '.json', 'utf8'), '{"isAttending":false,"reason":"changed my mind"}')
  t.is((await handle.files.stat('/rsvps'))?.isDirectory, true)
  t.is(await handle.files.exists('/nope'), false)
  const missing = await handle.files.readFile('/nope').catch((e: VmsError) => e) as VmsError
  t.is(missing.code, 'NOT_FOUND')
  t.ok(missing.message.includes('/nope is not a file'), 'reading a missing file says so')
  const dir = await handle.files.readFile('/rsvps').catch((e: VmsError) => e) as VmsError
  t.is(dir.code, 'NOT_FOUND')
  t.ok(dir.message.includes('/rsvps is a directory') && dir.message.includes('readdir'), 'reading a directory says it is one and how to list it')
  const entry = verifyReceipt(vm.key, receipt)
  await handle.files.waitFor(entry.files.dbLength)
  t.ok((await handle.files.version()) >= entry.files.dbLength)
  const err = await handle.call('nope').catch((e: any) => e)
  t.is((err as any).code, 'UNKNOWN_METHOD')
  const failed: any = await handle.call('RSVP', 'maybe').catch((e: any) => e)
  t.is(failed.code, 'CALL_FAILED')
  t.ok(failed.receipt, 'a failed call comes with its receipt')
  t.ok((await replay(vm.logAndFiles())).ok)
})

test('node: many calls in flight from two callers, all answered with receipts', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(`let n = 0; exports.next = async () => ++n`, { name: 'counter' })
  const a = await (await node(t, net)).dial(vm.key)
  const b = await (await node(t, net)).dial(vm.key)
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).call('next')))
  t.alike([...results as number[]].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i + 1))
})

test('node: a peer that cannot prove the log key is never sent a call', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  // An impostor announces the VM's topic and answers the channel with a bogus proof.
  let callsSeen = 0
  let offered = 0
  await rogueServer(t, net, vm.discoveryKey, (mux, id) => {
    offered++
    const ch = mux.createChannel({ protocol: PROTOCOL, id, handshake: c.raw })
    if (!ch) return
    ch.addMessage({ encoding: c.raw, onmessage: () => { callsSeen++ } })
    ch.addMessage({ encoding: c.raw, onmessage: () => {} })
    ch.open(encode(hello, { role: Role.HOST, signer: vm.log.keyPair!.publicKey, proof: b4a.alloc(64, 7), info: { methods: ['RSVP'], views: [], filesKey: vm.drive.key, length: 1, oracles: [] } }))
  })
  const client = await node(t, net)
  const handle = await client.dial(vm.key)
  await until(() => offered > 0, 10000, 'the client to open a channel with the impostor')
  for (let i = 0; i < 10; i++) await handle.call('RSVP', true)
  t.is(callsSeen, 0, 'the client reached the impostor, and sent it no call')
})

test('node: dialling a key nobody serves fails with HOST_OFFLINE and a hint', async (t) => {
  const net = await testnet(t)
  const client = await node(t, net, { timeoutMs: 1500 })
  const err = await client.dial(Identity.generate().publicKey).catch((e) => e)
  t.is(err.code, 'HOST_OFFLINE')
  t.ok(err.message.includes('--bootstrap'))
  const nobody = Identity.generate().publicKey
  const mirrored = await client.mirror(nobody).catch((e) => e)
  t.is(mirrored.code, 'HOST_OFFLINE', 'a mirror of it too')
  await until(() => client.swarm.status(crypto.discoveryKey(nobody)) === null, 2000, 'the topic left')
  t.pass('and the mirror stops looking for it (and announcing a VM it does not have)')
})

test('node: restarting the host node serves the same VMs under the same keys', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = await node(t, net, { storage }) // (also closed in the test)
  const vm = await first.host(RSVP, { name: 'rsvp', filename: 'rsvp.js' })
  const key = vm.key
  const client = await node(t, net)
  await t.exception(client.dial(key, { timeoutMs: 'soon' as never }), /BAD_OPTION: timeoutMs is "soon"/, 'a dial time-out that is not a number')
  const h1 = await client.dial(key)
  await h1.call('RSVP', true)
  await h1.close()
  await first.close()
  const second = await node(t, net, { storage })
  const hosted = await second.hostStored()
  t.is(hosted.length, 1)
  t.alike(hosted[0]!.key, key)
  const h2 = await client.dial(key)
  t.alike(await h2.call('list'), [client.identity.id + '.json'])
})

test('node: a node whose DHT went away still closes without waiting on it for each VM (Ctrl-C with the network down)', async (t) => {
  const net = await testnet(t)
  // Its own DHT node, as the CLI makes one from --bootstrap (a testnet's createNode() would go with the testnet).
  const n = new VmsNode({ storage: await t.tmp(), bootstrap: net.bootstrap, timeoutMs: 5000 })
  await n.ready()
  for (let i = 0; i < 12; i++) await n.host(`exports.f = () => ${i}`, { name: 'vm' + i })
  await n.swarm.flush()
  await net.destroy() // the whole DHT but this node's own node
  const started = Date.now()
  await n.close()
  const ms = Date.now() - started
  // Unannouncing each VM waited ~1 s for the unreachable DHT, one after another, and the swarm's close ~4 s more: 12 VMs took > 15 s.
  t.ok(ms < 8000, `closed in ${ms} ms`)
  t.ok(n.closed, 'and closed')
})

test('node: a dialled VM lists directories as hyperdrive does (files, marked and implied subdirectories, any path form), in one range read', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(`exports.make = async () => {
  const f = System.files
  await f.writeFile('/a/x', '1'); await f.writeFile('/a/sub/y', '2'); await f.writeFile('/a/sub/deeper/z', '3')
  await f.mkdir('/a/m'); await f.writeFile('/a/z', '4'); await f.writeFile('/top', '5'); await f.mkdir('/empty')
}`, { name: 'tree' })
  const alice = await node(t, net)
  const handle = await alice.dial(formatKey(vm.key))
  await handle.call('make')
  await handle.files.waitFor(vm.drive.version)
  const theirs = async (dir: string) => { const out: string[] = []; for await (const n of vm.drive.readdir(dir)) out.push(n as string); return out.sort() }
  for (const [path, want] of [['/a', ['m', 'sub', 'x', 'z']], ['a/', ['m', 'sub', 'x', 'z']], ['/', ['a', 'empty', 'top']], ['/a/sub', ['deeper', 'y']], ['/a/./sub/../sub/', ['deeper', 'y']], ['/empty', []], ['/nope', []], ['/top', []]] as const) {
    t.alike(await handle.files.readdir(path), want, `readdir ${path}`)
    t.alike(await handle.files.readdir(path), await theirs(path), `as hyperdrive lists ${path}`)
  }
})

test('node: hosting a name it has with another script, or reopening a name it lacks, says so in the node\'s terms', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const n = await node(t, net, { storage, filesCacheEntries: 5000 })
  const first = await n.host(RSVP, { name: 'rsvp' })
  t.is((first.drive.db as unknown as { _keyCache: { keys: { maxSize: number } } })._keyCache.keys.maxSize, 5000, 'the node\'s filesCacheEntries reach its VMs')
  const other = await n.host('exports.other = () => 1', { name: 'rsvp' }).catch((err: VmsError) => err) as VmsError
  t.is(other.code, 'STORAGE_INVALID')
  t.is(other.reason, 'another-script')
  t.ok(other.message.includes('already has a VM named rsvp, running another script (version 1)') && other.message.includes('it is immutable, so host the new script under another name'), other.message)
  const none = await n.host(null, { name: 'nope' }).catch((err: VmsError) => err) as VmsError
  t.is(none.code, 'STORAGE_INVALID')
  t.is(none.reason, 'no-vm')
  t.ok(none.message.includes('no VM named nope (it has: rsvp)'), none.message)
  t.is((await n.host(RSVP, { name: 'rsvp' })).methods.join(), 'RSVP,list', 'the same script under its name is the same VM')
  // After a restart the VM is on disk only: the same answers, from its storage.
  await n.close()
  const again = await node(t, net, { storage })
  const stored = await again.host('exports.other = () => 1', { name: 'rsvp' }).catch((err: VmsError) => err) as VmsError
  t.is(stored.reason, 'another-script')
  t.ok(stored.message.includes('already has a VM named rsvp, running another script'), stored.message)
  const missing = await again.host(null, { name: 'nope' }).catch((err: VmsError) => err) as VmsError
  t.is(missing.reason, 'no-vm')
  t.ok(missing.message.includes('no VM named nope (it has: rsvp)'), missing.message)
})

test('node: its registry of VMs survives concurrent changes, and a damaged one is reported, never read as empty', async (t) => {
  const { readFile, writeFile } = await import('node:fs/promises')
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = await node(t, net, { storage }) // (also closed in the test)
  // Six VMs created at once (deploys can arrive together): each is remembered.
  const vms = await Promise.all(Array.from({ length: 6 }, (_, i) => first.host(RSVP, { name: 'vm' + i })))
  await first.close()
  const second = await node(t, net, { storage })
  const progress: string[] = []
  const hosted = await second.hostStored({ onProgress: (opened, total) => progress.push(`${opened}/${total}`) })
  t.alike(hosted.map((h) => formatKey(h.key)).sort(), vms.map((v) => formatKey(v.key)).sort(), 'all six are served again')
  t.alike(progress, ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6'], 'saying how far the reopen got')
  await second.close()
  const damaged = (await readFile(storage + '/vms.json', 'utf8')).slice(0, 40)
  await writeFile(storage + '/vms.json', damaged)
  const third = await node(t, net, { storage })
  const err = await third.hostStored().catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(err.message.includes('vms.json') && err.message.includes('damaged'), err.message)
  await t.exception(third.host(RSVP, { name: 'another' }), /STORAGE_INVALID/, 'nothing is added to a damaged registry')
  t.is(await readFile(storage + '/vms.json', 'utf8'), damaged, 'and it is left as it was, for repair')
})

test('node: its own key is kept across restarts; a damaged key file is reported, never replaced by a new key', async (t) => {
  const { readFile, writeFile } = await import('node:fs/promises')
  const net = await testnet(t)
  const storage = await t.tmp()
  const keyOf = async () => {
    const n = new VmsNode({ storage, dht: net.createNode() })
    try {
      await n.ready()
      return formatKey(n.key)
    } finally {
      await n.close()
    }
  }
  const key = await keyOf()
  t.is(await keyOf(), key, 'the same key after a restart')
  await writeFile(storage + '/node-key.json', (await readFile(storage + '/node-key.json', 'utf8')).slice(0, 20))
  const err = await keyOf().catch((e: VmsError) => e) as VmsError
  t.is(err.code, 'STORAGE_INVALID')
  t.ok(err.message.includes('node-key.json') && err.message.includes('damaged'), err.message)
})

test('node: oversized frames get TOO_LARGE, a malformed frame or hello drops that channel, never the node', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const mux = await rogueClient(t, net, vm.discoveryKey)
  /** A channel for the VM, opened with `helloBytes`; resolves its responses and when it closes. */
  const channel = (helloBytes: Uint8Array) => {
    const responses: Response[] = []
    let opened!: () => void
    let closed!: () => void
    const state = { opened: new Promise<void>((r) => { opened = r }), closed: new Promise<void>((r) => { closed = r }) }
    const ch = mux.createChannel({ protocol: PROTOCOL, id: vm.key, handshake: c.raw, onopen: () => opened(), onclose: () => closed() })!
    const requests = ch.addMessage({ encoding: c.raw, onmessage: () => {} })
    ch.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { responses.push(decodeStrict(response, raw, 'response')) } })
    ch.open(helloBytes)
    return { ...state, requests, responses }
  }
  const valid = channel(encode(hello, { role: Role.CLIENT, signer: null, proof: null, info: null }))
  await valid.opened
  for (let i = 0; i < 20; i++) valid.requests.send(b4a.alloc(200000, 1))
  await until(() => valid.responses.length === 20, 10000, '20 answers')
  t.ok(valid.responses.every((r) => r.error?.code === 'TOO_LARGE'), 'each oversized frame is answered TOO_LARGE')
  valid.requests.send(b4a.from([0xff, 0xff, 0xff]))
  await valid.closed
  t.pass('a malformed request closes that channel')
  const garbage = channel(b4a.from('garbage hello'))
  await garbage.closed
  t.pass('a malformed hello closes that channel')
  // A channel for a VM the node does not host: left unanswered.
  mux.createChannel({ protocol: PROTOCOL, id: b4a.alloc(32, 9), handshake: c.raw })?.open(b4a.alloc(0))
  const client = await node(t, net)
  const handle = await client.dial(vm.key)
  t.is(await handle.call('RSVP', true), undefined, 'the node still serves everyone else')
  const big = await handle.call('RSVP', true, 'x'.repeat(100000)).catch((e: { code: string }) => e) as { code: string }
  t.is(big.code, 'TOO_LARGE', 'a caller whose args are too large is told so at once (answered with its request id)')
})

test('node: a dialled handle reconnects when its host comes back', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const first = await node(t, net, { storage }) // (also closed in the test)
  const vm = await first.host(RSVP, { name: 'rsvp' })
  const key = vm.key
  const client = await node(t, net, { timeoutMs: 1500 })
  const handle = await client.dial(key)
  await handle.call('RSVP', true)
  await first.close()
  const offline = await handle.call('RSVP', false).catch((e: { code: string }) => e)
  t.ok(['HOST_OFFLINE', 'CONNECTION_LOST', 'TIMEOUT'].includes((offline as { code: string }).code), 'a call with the host away fails clearly: ' + (offline as { code: string }).code)
  const second = await node(t, net, { storage })
  await second.hostStored()
  await handle.connected(10000)
  t.alike(await handle.call('list'), [client.identity.id + '.json'], 'the same handle works again once the host is back')
})

test('node: a flood of calls on one connection is answered QUEUE_FULL beyond the limit, the rest are served', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(`exports.slow = async () => { let x = 0; for (let i = 0; i < 2e5; i++) x += i; return x }`, { name: 'slow', maxQueue: 4096 })
  const handle = await (await node(t, net, { timeoutMs: 60000 })).dial(vm.key)
  const outcomes = await Promise.all(Array.from({ length: 400 }, () => handle.call('slow').then(() => 'ok', (e: { code: string }) => e.code)))
  const full = outcomes.filter((o) => o === 'QUEUE_FULL').length
  const ok = outcomes.filter((o) => o === 'ok').length
  t.ok(full > 0, `${full} refused with QUEUE_FULL`)
  t.ok(ok >= 256, `${ok} served`)
  t.is(full + ok, 400, 'nothing else happened')
  t.is(await handle.call('slow'), 19999900000, 'and the connection serves on')
})

test('node: a host that holds the key but logs and answers a result that is not JSON is caught by the client (BAD_RECEIPT, with the receipt as proof)', async (t) => {
  const net = await testnet(t)
  const hostNode = new VmsNode({ storage: await t.tmp(), dht: net.createNode() })
  t.teardown(() => hostNode.close()) // (also closed in the test)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const keyPair = vm.log.keyPair!
  const key = vm.key
  const before = await rootsOfCore(vm.log, vm.log.length)
  const last = decodeEntry((await vm.log.get(vm.log.length - 1))!)
  const files = (last as CallEntry).files
  const filesKey = vm.drive.key
  await hostNode.close()

  // The rogue proves the log key like a host, then signs into its tree an entry whose result is not JSON.
  await rogueServer(t, net, vm.discoveryKey, (mux, id, conn) => {
    const ch = mux.createChannel({ protocol: PROTOCOL, id, handshake: c.raw })
    if (!ch) return
    ch.addMessage({
      encoding: c.raw,
      onmessage: (raw: Uint8Array) => {
        const { id: rid, call } = decodeStrict(request, raw, 'request')
        const value = b4a.from('{not json')
        const block = encode(logEntry, {
          type: EntryType.CALL, publicKey: call.publicKey, signature: call.signature, method: call.method, args: call.args, nonce: call.nonce,
          time: Date.now(), seed: b4a.alloc(16), oracles: [], outcome: { ok: true, limit: false, value, error: null }, files
        })
        const tree = before.clone()
        tree.append(block)
        const signature = crypto.sign(caps.treeSignable(key, tree.hash(), tree.length, 0), keyPair.secretKey!)
        responses.send(encode(response, { id: rid, error: null, value, receipt: { index: before.length, fork: 0, signer: keyPair.publicKey, roots: before.roots, after: [], signature, entry: block } }))
      }
    })
    const responses = ch.addMessage({ encoding: c.raw, onmessage: () => {} })
    const proof = crypto.sign(proofSignable(conn.handshakeHash, key), keyPair.secretKey!)
    ch.open(encode(hello, { role: Role.HOST, signer: keyPair.publicKey, proof, info: { methods: ['RSVP'], views: [], filesKey, length: before.length, oracles: [] } }))
  })
  const handle = await (await node(t, net)).dial(key)
  const err = await handle.call('RSVP', true).catch((e: { code: string; message: string; receipt?: unknown }) => e) as { code: string; message: string; receipt?: { index: number } }
  t.is(err.code, 'BAD_RECEIPT', err.message)
  t.ok(err.message.includes('not JSON'), 'says the logged result is not JSON and the host is faulty')
  t.is(err.receipt?.index, before.length, 'and hands over the signed receipt: proof of the fault')
})

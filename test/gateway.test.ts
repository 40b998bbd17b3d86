// The gateway and the browser client, in a real browser (Chromium): pages sign their
// calls and check every answer themselves; a gateway that alters or invents one is
// caught; bad frames close one socket and nobody else's.
import test, { type Test } from 'brittle'
import b4a from 'b4a'
import { WebSocket, WebSocketServer } from 'ws'
import type { Page } from 'playwright-core'
import { VmsNode, formatKey, replay, EntryType, decodeEntry } from '../src/index.js'
import { Gateway, type GatewayOptions } from '../src/gateway/gateway.js'
import { frame, FrameType, GATEWAY_PROTOCOL, type Frame } from '../src/messages/gateway.js'
import { attestationSignable } from '../src/messages/wire.js'
import crypto from 'hypercore-crypto'
import { encode, decodeStrict, logEntry } from '../src/messages/index.js'
import { canonicalEncode } from '../src/canonical-json.js'
import { testnet, node } from './helpers/net.js'
import { browser } from './helpers/browser.js'

const RSVP = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (isAttending, reason = '') => {
  if (typeof isAttending !== 'boolean') throw new TypeError('isAttending must be true or false')
  await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ isAttending, reason }))
  return 'noted ' + System.caller.id
}
exports.guests = async () => (await System.files.readdir('/rsvps')).length
exports.guests.view = true
`

async function setup(t: Test, opts: GatewayOptions = {}) {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const gatewayNode = await node(t, net)
  const gateway = new Gateway(gatewayNode, { port: 0, ...opts })
  await gateway.ready()
  t.teardown(() => gateway.close())
  return { net, hostNode, vm, gatewayNode, gateway, key: formatKey(vm.key) }
}

/** A page of the gateway's own origin, with the client loaded as `window.vms`. */
async function openPage(t: Test, url: string): Promise<Page> {
  const b = await browser(t)
  const page = await b.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  t.teardown(() => { if (errors.length) t.comment('page errors: ' + errors.join('; ')) })
  await page.goto(url)
  await page.evaluate(async () => { (window as unknown as { vms: unknown }).vms = await import('/browser.js' as string) })
  return page
}

test('browser: a page dials a VM through the gateway, calls it signed in the page, reads views and files; the calls replay clean, signed by the page\'s key', async (t) => {
  const { vm, gateway, key } = await setup(t)
  const page = await openPage(t, gateway.url + '/')
  const out = await page.evaluate(async (key) => {
    const { connect } = (window as any).vms
    const gw = await connect()
    const v = await gw.dial(key)
    const info = await v.info()
    const { result, receipt } = await v.callWithReceipt('RSVP', true, 'from the page')
    const again = await v.RSVP(false, 'changed my mind')
    const failed = await v.RSVP('maybe').then(() => null, (e: any) => ({ code: e.code, remote: e.remote?.message, index: e.receipt?.index }))
    const view = await v.view('guests')
    const names = await v.files.readdir('/rsvps')
    const file = await v.files.readFile('/rsvps/' + names[0], 'utf8')
    const log = await v.log(0, 5)
    const second = await gw.dial(key) // a second handle, same identity
    return {
      id: gw.identity.id, info: { methods: info.methods, views: info.views, trust: info.trust, owners: info.owners, version: info.version, verified: info.verified, host: info.host },
      result, index: receipt.index, again, failed, view, names, file, types: log.entries.map((e: any) => e.type), logLength: log.length,
      secondId: (await second.info()).key
    }
  }, key)
  t.alike(out.info, { methods: ['RSVP', 'guests'], views: ['guests'], trust: 'trustless', owners: [], version: 1, verified: true, host: true })
  t.is(out.result, 'noted ' + out.id, 'the result is the logged outcome: the script saw the page\'s key as the caller')
  t.is(out.index, 2)
  t.is(out.again, 'noted ' + out.id)
  t.is(out.failed?.code, 'CALL_FAILED', 'a failed call rejects with the logged failure, checked against its receipt')
  t.ok(out.failed?.remote?.includes('isAttending must be true or false'))
  t.is(out.failed?.index, 4)
  t.alike(out.view, { result: 1, length: 5, verified: false }, 'a view says it is the gateway\'s word')
  t.alike(out.names, [out.id + '.json'])
  t.is(out.file, '{"isAttending":false,"reason":"changed my mind"}')
  t.alike(out.types, [EntryType.GENESIS, EntryType.LOAD, EntryType.CALL, EntryType.CALL, EntryType.CALL], 'log entries proven in the page')
  t.is(out.logLength, 5)
  t.is(out.secondId, key)

  const report = await replay(vm.logAndFiles())
  t.ok(report.ok, 'the calls signed in the page replay clean')
  t.is(report.calls, 3)
  const entry = decodeEntry((await vm.log.get(2))!, 2)
  t.ok(entry.type === EntryType.CALL && formatKey(entry.publicKey) === out.id, 'signed by the page\'s own key')
  const kept = await page.evaluate(async () => (await (window as any).vms.PageIdentity.load()).id)
  t.is(kept, out.id, 'the page\'s identity is kept for its origin (IndexedDB)')
})

/** A gateway in the middle: frames pass through `alter`, which may change or replace them. */
async function tamperingProxy(t: Test, target: string, alter: { up?: (f: Frame) => Frame | null; down?: (f: Frame) => Frame | null }): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()) }))
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  wss.on('connection', (page) => {
    const real = new WebSocket(target.replace('http', 'ws'), GATEWAY_PROTOCOL)
    const queued: Buffer[] = []
    real.on('open', () => { for (const q of queued) real.send(q) })
    const pass = (data: Buffer, to: WebSocket, fn?: (f: Frame) => Frame | null) => {
      let out: Uint8Array = data
      if (fn) {
        const f = fn(decodeStrict(frame, data, 'frame'))
        if (f === null) return
        out = encode(frame, f)
      }
      if (to === real && real.readyState !== real.OPEN) queued.push(Buffer.from(out))
      else to.send(out)
    }
    page.on('message', (d: Buffer) => pass(d, real, alter.up))
    real.on('message', (d: Buffer) => pass(d, page, alter.down))
    page.on('close', () => real.close())
    real.on('close', () => page.close())
  })
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}`
}

test('browser: a gateway that alters or invents answers is caught by the page (BAD_RECEIPT); one that alters a call makes it fail the host\'s check, unlogged; made-up attestations are not counted', async (t) => {
  const { net, vm, gateway, key } = await setup(t)
  let mode = 'honest'
  let kept: Frame | null = null
  const proxy = await tamperingProxy(t, gateway.url, {
    up(f) {
      if (mode === 'alter-call' && f.type === FrameType.CALL) return { ...f, call: { ...f.call, args: canonicalEncode([true, 'forged by the gateway'], 65536) } }
      return f
    },
    down(f) {
      if (f.type === FrameType.VOUCHERS_OK && mode === 'forge-vouchers') {
        // An auditor that signed a tree the log never had, and one whose signature is not its own.
        const liar = crypto.keyPair()
        const made = { auditor: liar.publicKey, vmKey: vm.key, length: 3, treeHash: crypto.randomBytes(32), time: Date.now() }
        const signed = { ...made, signature: crypto.sign(attestationSignable(made), liar.secretKey) }
        const unsigned = { ...made, treeHash: b4a.alloc(32), signature: b4a.alloc(64, 9) }
        return { ...f, list: [...f.list, signed, unsigned] }
      }
      if (f.type !== FrameType.CALL_OK) return f
      if (mode === 'honest') { kept = f; return f }
      if (mode === 'alter-result') {
        // The entry re-encoded with another result: the tree (and the log's signature) no longer matches.
        const e = decodeEntry(f.receipt.entry, f.receipt.index)
        if (e.type !== EntryType.CALL) return f
        const forged = { ...e, outcome: { ...e.outcome, value: b4a.from('"forged"') } }
        return { ...f, receipt: { ...f.receipt, entry: encode(logEntry, forged) } }
      }
      if (mode === 'invent') return { ...kept!, id: f.id } // another call's genuine receipt
      if (mode === 'error-for-success') return { type: FrameType.ERROR, id: f.id, error: { code: 'CALL_FAILED', message: 'CALL_FAILED: no', remote: { name: 'Error', message: 'no', code: '' } }, receipt: f.receipt }
      return f
    }
  })
  const page = await openPage(t, gateway.url + '/')
  const run = async (m: string) => {
    mode = m
    return page.evaluate(async ({ key, proxy }) => {
      const w = window as any
      w.gw ??= await w.vms.connect(proxy)
      const v = await w.gw.dial(key)
      return v.RSVP(true, 'honest').then((r: unknown) => ({ ok: r }), (e: any) => ({ code: e.code, message: e.message }))
    }, { key, proxy })
  }
  t.ok('ok' in (await run('honest')), 'through an honest relay, the call works')
  const altered = await run('alter-result')
  t.is(altered.code, 'BAD_RECEIPT', `an altered result is caught: ${altered.message}`)
  const invented = await run('invent')
  t.is(invented.code, 'BAD_RECEIPT', `another call's receipt is caught: ${invented.message}`)
  const flipped = await run('error-for-success')
  t.is(flipped.code, 'BAD_RECEIPT', `an error answered for a logged success is caught: ${flipped.message}`)
  const before = vm.log.length
  const forgedCall = await run('alter-call')
  t.is(forgedCall.code, 'BAD_SIGNATURE', `a call altered on the way fails the host's signature check: ${forgedCall.message}`)
  t.is(vm.log.length, before, 'and is never logged')
  const report = await replay(vm.logAndFiles())
  t.ok(report.ok, 'the log the host kept replays clean')
  const volunteer = await node(t, net)
  t.ok((await volunteer.audit(key)).ok)
  mode = 'forge-vouchers'
  const vouchers = await page.evaluate(async (key) => (await (window as any).gw.dial(key)).vouchers(0), key)
  t.alike(vouchers.auditors.map((a: { id: string }) => a.id), [volunteer.identity.id], 'the volunteer\'s attestation counts; those the gateway made up do not (a tree the log never had, a signature that is not the auditor\'s)')
})

/** A raw socket to the gateway, as a page's would be, with its close code. */
async function rawSocket(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }>; next(): Promise<Frame> }> {
  const ws = new WebSocket(url.replace('http', 'ws'), GATEWAY_PROTOCOL, { headers })
  const frames: Frame[] = []
  const waiters: Array<(f: Frame) => void> = []
  ws.on('message', (d: Buffer) => { const f = decodeStrict(frame, d, 'frame'); const w = waiters.shift(); if (w) w(f); else frames.push(f) })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })))
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  return { ws, closed, next: () => frames.length ? Promise.resolve(frames.shift()!) : new Promise((resolve) => waiters.push(resolve)) }
}

test('gateway: bad frames, oversized messages, a text frame close that socket only; limits answer, the origin allowlist applies; it keeps serving others', async (t) => {
  const { gateway, key, vm } = await setup(t, { limits: { maxFrameBytes: 64 * 1024, maxInflight: 2 } })
  const page = await openPage(t, gateway.url + '/')
  const call = (reason: string) => page.evaluate(async ({ key, reason }) => {
    const w = window as any
    w.v ??= await (await w.vms.connect()).dial(key)
    return w.v.RSVP(true, reason)
  }, { key, reason })
  t.ok(await call('before'), 'a page calls')

  const garbage = await rawSocket(gateway.url)
  garbage.ws.send(b4a.from([1, 3, 7, 255, 255, 255]))
  t.is((await garbage.closed).code, 1007, 'a frame that does not decode: closed with 1007')
  const text = await rawSocket(gateway.url)
  text.ws.send('hello')
  t.is((await text.closed).code, 1003, 'a text frame: 1003')
  const huge = await rawSocket(gateway.url)
  huge.ws.send(b4a.alloc(64 * 1024 + 1))
  t.is((await huge.closed).code, 1009, 'a frame over the size limit: 1009')
  const answer = await rawSocket(gateway.url)
  answer.ws.send(encode(frame, { type: FrameType.WATCH_OK, id: 1, length: 3 }))
  t.is((await answer.closed).code, 1007, 'an answer sent as a request: 1007')

  const busy = await rawSocket(gateway.url)
  for (let id = 1; id <= 4; id++) busy.ws.send(encode(frame, { type: FrameType.LOG, id, vm: vm.key, from: 0, to: 2 }))
  const answers = await Promise.all([busy.next(), busy.next(), busy.next(), busy.next()])
  const full = answers.filter((f) => f.type === FrameType.ERROR && f.error.code === 'QUEUE_FULL')
  t.is(full.length, 2, 'past the in-flight limit, requests are answered QUEUE_FULL')
  t.is(answers.filter((f) => f.type === FrameType.LOG_OK).length, 2)
  busy.ws.send(encode(frame, { type: FrameType.LOG, id: 9, vm: vm.key, from: 0, to: 1000 }))
  const tooMany = await busy.next()
  t.ok(tooMany.type === FrameType.ERROR && tooMany.error.code === 'TOO_LARGE', 'a log page past the limit: TOO_LARGE')
  busy.ws.close()

  await t.exception(rawSocket(gateway.url, { origin: 'http://evil.example' }), /403/, 'another origin is refused')
  t.ok(await call('after'), 'the page calls on: the gateway served it throughout')
})

test('gateway: an allowed origin may connect; an idle socket is closed; closing the gateway closes its sockets', async (t) => {
  const { gateway } = await setup(t, { origins: ['http://app.example'], limits: { idleMs: 300 } })
  const allowed = await rawSocket(gateway.url, { origin: 'http://app.example' })
  const idle = await allowed.closed
  t.is(idle.code, 1000)
  t.ok(idle.reason.includes('idle'), idle.reason)
  const open = await rawSocket(gateway.url)
  t.is(gateway.sockets, 1)
  await gateway.close()
  t.is((await open.closed).code, 1001, 'closed as the gateway goes away')
})

const PARTY = new URL('../../examples/party', import.meta.url).pathname
const RSVP_EXAMPLE = new URL('../../examples/rsvp.js', import.meta.url).pathname

async function partySetup(t: Test) {
  const { readFile } = await import('node:fs/promises')
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(await readFile(RSVP_EXAMPLE, 'utf8'), { name: 'rsvp', filename: 'rsvp.js' })
  const gatewayNode = await node(t, net)
  const gateway = new Gateway(gatewayNode, { port: 0, pages: PARTY })
  await gateway.ready()
  t.teardown(() => gateway.close())
  const guest = await node(t, net)
  return { net, vm, gateway, key: formatKey(vm.key), guest: await guest.dial(vm.key), guestId: guest.identity.id }
}

test('browser: the party page RSVPs, and its guest list updates, with its own answer and others\' as they come', async (t) => {
  const { gateway, key, guest, guestId, vm } = await partySetup(t)
  await guest.call('RSVP', false, 'Why tho?')
  const page = await openPage(t, `${gateway.url}/?vm=${key}`)
  await page.waitForSelector('#yes:not([disabled])')
  await page.waitForSelector(`#guests li[data-id="${guestId}"]`)
  await page.fill('#reason', 'see you there')
  await page.click('#yes')
  const mine = await page.waitForSelector('#guests li.mine')
  t.ok((await mine.textContent())?.includes('see you there'), 'the page\'s own RSVP is in the list')
  t.is(await mine.getAttribute('data-attending'), 'true')
  t.is(await page.locator('#guests li').count(), 2)
  // Someone else answers, elsewhere: the list follows the log.
  await guest.call('RSVP', true, 'changed my mind')
  await page.waitForFunction((id) => document.querySelector(`#guests li[data-id="${id}"]`)?.getAttribute('data-attending') === 'true', guestId)
  t.pass('another guest\'s RSVP shows up without a reload')
  const report = await replay(vm.logAndFiles())
  t.ok(report.ok && report.calls === 3, 'the page\'s call replays clean with the others')
})

test('browser: the explorer shows a VM, its log live, its files, who vouches; it checks a pasted receipt', async (t) => {
  const { net, gateway, key, guest, vm } = await partySetup(t)
  const { receipt } = await guest.callWithReceipt('RSVP', true, 'first')
  const volunteer = await node(t, net)
  t.ok((await volunteer.audit(key)).ok, 'a volunteer audits it, and signs an attestation')
  const page = await openPage(t, `${gateway.url}/vm/${key}`)
  await page.waitForSelector('#status[data-state="live"]')
  await page.waitForSelector('#log tr[data-index="2"]')
  t.ok((await page.textContent('#overview'))?.includes('trustless'), 'the overview names the trust mode')
  const before = vm.log.length
  await guest.call('RSVP', false, 'second thoughts')
  const row = await page.waitForSelector(`#log tr[data-index="${before}"]`)
  t.ok((await row.textContent())?.includes('RSVP'), 'the new entry shows up live, with its method')
  t.ok(await page.waitForSelector('#files button.file[data-path="/rsvps"]'), 'the files, browsable')
  await page.waitForFunction((id) => document.querySelector('#vouchers-list')?.textContent?.includes(id.slice(0, 8)), volunteer.identity.id)
  t.ok((await page.textContent('#vouchers-list'))?.includes('verified'), 'the volunteer vouches, its attestation checked in the page')
  const { encode: enc, receipt: receiptEncoding } = await import('../src/messages/index.js')
  await page.fill('#receipt', b4a.toString(enc(receiptEncoding, receipt), 'hex'))
  await page.click('#check')
  await page.waitForSelector('#receipt-result.is-verified')
  t.ok((await page.textContent('#receipt-result'))?.includes('verified'), 'a genuine receipt verifies in the page')
  const forged = { ...receipt, signature: b4a.alloc(64, 1) }
  await page.fill('#receipt', b4a.toString(enc(receiptEncoding, forged), 'hex'))
  await page.click('#check')
  await page.waitForSelector('#receipt-result.is-bad')
  t.ok((await page.textContent('#receipt-result'))?.includes('BAD_RECEIPT'), 'a forged one does not')
})

test('demo:web starts a DHT, a host and a gateway serving the party page, prints its URL, and closes cleanly', async (t) => {
  const { spawn } = await import('node:child_process')
  const demo = new URL('../examples/demo-web.js', import.meta.url).pathname
  const child = spawn(process.execPath, [demo], { env: { ...process.env, VMS_DEMO_EXIT_AFTER_READY: '1', VMS_DEMO_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  t.is(code, 0, out)
  t.ok(/the party page: +http:\/\/127\.0\.0\.1:\d+\/\?vm=[0-9a-z]{52}/.test(out), 'prints the party page\'s URL')
  t.ok(/the explorer: +http:\/\/127\.0\.0\.1:\d+\/vm\/[0-9a-z]{52}/.test(out), 'and the explorer\'s')
})

import test from 'brittle'
import { spawn, type ChildProcess } from 'node:child_process'
import { testnet, node } from './helpers/net.js'
import { RSVP, smallDisk, CAN_MOUNT } from './helpers/index.js'
import { runCli, BIN, onLines } from './helpers/cli.js'
import { readFile } from 'node:fs/promises'
import { scriptHash } from '../src/messages/index.js'

const EXAMPLE = new URL('../../examples/rsvp.js', import.meta.url).pathname

const run = (env: NodeJS.ProcessEnv, ...args: string[]) => runCli(args, { env })


/** Start `vms-node serve --json`, resolve with the first serving event. */
function serve(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ child: ChildProcess; key: string; lines: string[]; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    const lines: string[] = []
    let err = ''
    child.stderr.on('data', (d) => { err += d })
    onLines(child.stdout, (line) => {
      lines.push(line)
      const ev = JSON.parse(line)
      if (ev.event === 'serving') resolve({ child, key: ev.key, lines, stderr: () => err })
    })
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)))
  })
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit')
    child.on('exit', (code) => resolve(code))
    child.kill('SIGINT')
  })
}

test('cli over the swarm: serve, call, files, info, stop gracefully, serve the same VM again', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const storage = await t.tmp()
  const { child, key } = await serve(env, EXAMPLE, '--storage', storage)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  t.is(key.length, 52)

  const yes = await run(env, 'call', key, 'RSVP', 'true', "wouldn't miss it", '--json')
  t.is(yes.code, 0, yes.err)
  const answer = JSON.parse(yes.out)
  t.is(answer.result, null)
  t.is(answer.receipt.index, 2, 'the receipt names the entry')
  t.is(answer.receipt.length, 3, 'signed at the length after it (a lone call)')

  const view = await run(env, 'call', key, 'listRSVPs', '--view', '--json')
  t.is(view.code, 0, view.err)
  t.is(JSON.parse(view.out).length, 3, 'a view says which log length it reflects')

  const list = await run(env, 'call', key, 'listRSVPs')
  t.is(list.code, 0)
  t.is(Object.values(JSON.parse(list.out) as Record<string, { reason: string }>)[0]!.reason, "wouldn't miss it", 'a word that is not JSON is a string')

  const ls = await run(env, 'files', key, 'ls', '/rsvps', '--json')
  t.is(ls.code, 0)
  const name = JSON.parse(ls.out.trim().split('\n')[0]!).name as string
  t.ok(name.endsWith('.json'))
  const cat = await run(env, 'files', key, 'cat', '/rsvps/' + name)
  t.is(cat.out, `{"isAttending":true,"reason":"wouldn't miss it"}`)
  const stat = await run(env, 'files', key, 'stat', '/nope')
  t.is(stat.code, 1)
  t.ok(stat.err.includes('does not exist'))
  const lsMissing = await run(env, 'files', key, 'ls', '/nope')
  t.ok(lsMissing.code === 1 && lsMissing.err.includes('/nope does not exist') && lsMissing.err.includes('ls /'), lsMissing.err.trim())
  const lsFile = await run(env, 'files', key, 'ls', '/rsvps/' + name)
  t.ok(lsFile.code === 1 && lsFile.err.includes('is a file, not a directory') && lsFile.err.includes('cat'), lsFile.err.trim())

  const info = await run(env, 'info', key, '--json')
  t.alike(JSON.parse(info.out).methods, ['RSVP', 'listRSVPs'])
  t.is(JSON.parse(info.out).trust, 'trustless')
  t.is(JSON.parse(info.out).from, 'host')

  const repl = await runCli(['repl', key], { env, input: 'await RSVP(false, "from the repl")\nawait listRSVPs()\n.exit\n' })
  t.is(repl.code, 0)
  t.ok(repl.out.includes('from the repl'), 'the repl binds the methods as async functions')

  const bad = await run(env, 'call', key, 'nope')
  t.is(bad.code, 1)
  t.ok(bad.err.includes('UNKNOWN_METHOD'))

  const audit = await run(env, 'audit', key)
  t.is(audit.code, 0, audit.err)
  t.ok(audit.out.startsWith('verified: entries 1–'), 'the volunteer verified the log')
  t.ok(/files tree [0-9a-f]{8}…/.test(audit.out), 'and names the files tree it ended at: ' + audit.out)
  const stretch = await run(env, 'audit', key, '--to', '3', '--json')
  t.is(stretch.code, 0, stretch.err)
  t.alike([JSON.parse(stretch.out).from, JSON.parse(stretch.out).to], [1, 3], 'audit --to checks one stretch (for `combine`)')
  t.ok(audit.err.includes('replaying'), 'shows progress')

  const head = JSON.parse((await run(env, 'info', key, '--json')).out) as { length: number }
  const mirrorStorage = await t.tmp()
  // The mirror says how its first copy went, and when it holds every entry the host has.
  let filled: { bulk: number; failure: string | null } | null = null
  const mirror = await new Promise<ChildProcess>((resolve, reject) => {
    const m = spawn(process.execPath, [BIN, 'mirror', '--json', key, '--storage', mirrorStorage], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let held = false
    onLines(m.stdout, (line) => {
      const ev = JSON.parse(line) as { event: string; length?: number; bulk?: number; failure?: string | null }
      if (ev.event === 'filled') filled = { bulk: ev.bulk!, failure: ev.failure! }
      if (ev.event === 'held' && ev.length! >= head.length) held = true
      if (held && filled) resolve(m)
    })
    m.on('exit', (code) => reject(new Error('mirror exited ' + code)))
  })
  t.teardown(() => { if (mirror.exitCode === null) mirror.kill('SIGKILL') })
  t.alike(filled, { bulk: 0, failure: null }, 'a log this short is copied by plain replication, and the mirror says so')

  t.is(await stop(child), 0, 'SIGINT stops it cleanly')

  const fromMirror = await run(env, 'files', key, 'cat', '/rsvps/' + name)
  t.is(fromMirror.out, '{"isAttending":false,"reason":"from the repl"}', 'with the host stopped, files are read from the mirror (the latest RSVP)')
  const mirrorInfo = JSON.parse((await run(env, 'info', key, '--json')).out) as { from: string; methods: string[] }
  t.alike([mirrorInfo.from, mirrorInfo.methods], ['mirror', ['RSVP', 'listRSVPs']], 'info from the mirror, with the script\'s methods')
  const offline = await run(env, 'call', key, 'listRSVPs', '--timeout', '1500')
  t.is(offline.code, 1)
  t.ok(offline.err.includes('offline'), 'a call says the host is offline')
  const auditMirror = await run(env, 'audit', key)
  t.is(auditMirror.code, 0, 'audited from the mirror alone')
  t.is(await stop(mirror), 0)

  const again = await serve(env, '--storage', storage)
  t.teardown(() => { if (again.child.exitCode === null) again.child.kill('SIGKILL') })
  t.is(again.key, key, 'the same storage serves the same VM under the same key')
  t.ok(again.lines.map((l) => JSON.parse(l)).some((e) => e.event === 'reopening' && e.opened === 1 && e.total === 1), 'it said how far the reopen got: ' + again.lines.join(' '))
  const list2 = await run(env, 'call', key, 'listRSVPs', '--json')
  t.is(Object.keys(JSON.parse(list2.out).result).length, 1, 'with its state (one caller identity: the same VMS_HOME)')
  t.is(await stop(again.child), 0)

  // The node's storage, stopped: its VM's log and a replay, by the name serve gave it.
  const log = await run(env, 'log', storage, '--json')
  t.is(log.code, 0, 'log reads a node\'s storage when it holds one VM')
  t.is(JSON.parse(log.out.split('\n')[0]!).key, key)
  const replayed = await run(env, 'replay', storage, '--vm', 'rsvp', '--json')
  t.is(replayed.code, 0)
  t.is(JSON.parse(replayed.out).ok, true, 'replay from the node\'s storage, by VM name')
  const wrong = await run(env, 'log', storage, '--vm', 'nope')
  t.is(wrong.code, 1)
  t.ok(wrong.err.includes('no VM named nope') && wrong.err.includes('rsvp'), wrong.err.trim())
})

test('cli: dialling a key nobody serves fails with a hint, missing arguments say how to get help', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const offline = await run(env, 'call', 'yryx99nudn9fpq7o6xe7z43oxn4xyxhq8joykkaih5yxgpepwe4o', 'RSVP', '--timeout', '1500')
  t.is(offline.code, 1)
  t.ok(offline.err.includes('HOST_OFFLINE'))
  const missing = await run(env, 'call')
  t.is(missing.code, 1)
  t.ok(missing.err.includes('--help'))
  const badKey = await run(env, 'info', 'not-a-key')
  t.is(badKey.code, 1)
  t.ok(badKey.err.includes('z-base-32 or hex'))
})

test('cli: serve stopped with the DHT gone says what it is doing, and a second Ctrl-C quits at once with the storage safe', async (t) => {
  const { default: createTestnet } = await import('hyperdht/testnet.js')
  const gone = await createTestnet(3)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${gone.bootstrap[0]!.port}` }
  const storage = await t.tmp()
  const { child, key } = await serve(env, EXAMPLE, '--storage', storage)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await gone.destroy()
  let err = ''
  child.stderr!.on('data', (d) => { err += d })
  const exited = new Promise<[number | null, string | null]>((resolve) => {
    child.removeAllListeners('exit')
    child.on('exit', (code, signal) => resolve([code, signal]))
  })
  child.kill('SIGINT')
  await new Promise((resolve) => setTimeout(resolve, 300))
  child.kill('SIGINT')
  t.alike(await exited, [130, null], 'the second signal ends it with 130, not a kill by signal')
  t.ok(err.includes('stopped at once; the storage is safe: reopening it resumes'), err)

  const net = await testnet(t)
  const again = await serve({ ...env, VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }, '--storage', storage)
  t.teardown(() => { if (again.child.exitCode === null) again.child.kill('SIGKILL') })
  t.is(again.key, key, 'the storage serves the same VM again')
  t.is(await stop(again.child), 0)
})

test('cli: serve refuses two scripts of one name, and says when a script changed since its VM was made', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const dir = await t.tmp()
  const { mkdir, writeFile, appendFile } = await import('node:fs/promises')
  await mkdir(dir + '/a')
  await mkdir(dir + '/b')
  await writeFile(dir + '/a/rsvp.js', RSVP)
  await writeFile(dir + '/b/rsvp.js', RSVP)
  const storage = await t.tmp()
  const twins = await run(env, 'serve', dir + '/a/rsvp.js', dir + '/b/rsvp.js', '--storage', storage)
  t.is(twins.code, 1, 'refused: one of them would have been left out')
  t.ok(twins.err.includes(`${dir}/a/rsvp.js and ${dir}/b/rsvp.js have the same name`), twins.err)

  const first = await serve(env, dir + '/a/rsvp.js', '--storage', storage)
  t.is(await stop(first.child), 0)
  await appendFile(dir + '/a/rsvp.js', '\nexports.extra = () => 1\n')
  const again = await serve(env, dir + '/a/rsvp.js', '--storage', storage)
  t.teardown(() => { if (again.child.exitCode === null) again.child.kill('SIGKILL') })
  t.is(again.key, first.key, 'the VM serves as it was made')
  t.is(await stop(again.child), 0)
  t.ok(again.stderr().includes(`${dir}/a/rsvp.js is not the script VM ${first.key} runs (version 1, from rsvp.js); it serves version 1`), again.stderr())
  t.ok(again.stderr().includes(`vms-node upgrade ${first.key} ${dir}/a/rsvp.js`), 'and says how to run the new one: upgrade')
  t.absent(first.stderr().includes('is not the script'), 'not said when it did not change')
})

test('cli: serve (upgradable by you), upgrade, a call made for version 1 is refused with what changed, info shows the history, audit verifies across versions; --immutable refuses', async (t) => {
  const net = await testnet(t)
  const bootstrap = `127.0.0.1:${net.bootstrap[0]!.port}`
  const owner = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: bootstrap }
  const guest = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: bootstrap }
  const dir = await t.tmp()
  const { writeFile } = await import('node:fs/promises')
  await writeFile(dir + '/rsvp.js', RSVP)
  await writeFile(dir + '/rsvp-v2.js', RSVP.replace("exports.list = async () => (await System.files.readdir('/rsvps')).sort()", 'exports.count = async () => (await System.files.readdir(\'/rsvps\')).length') + '\nexports.migrate = async (from) => { await System.files.writeFile(\'/migrated\', String(from)) }\n')
  const me = JSON.parse((await run(owner, 'whoami', '--json')).out).id as string
  const served = await serve(owner, dir + '/rsvp.js', '--storage', await t.tmp())
  t.teardown(() => { if (served.child.exitCode === null) served.child.kill('SIGKILL') })
  t.alike(JSON.parse(served.lines[0]!).owners, [me], 'serve makes the VM upgradable by your caller identity')
  const key = served.key

  const first = await run(guest, 'call', key, 'RSVP', 'true', 'v1')
  t.is(first.code, 0, first.err)
  const before = await run(guest, 'info', key)
  t.ok(before.out.includes(`rules    upgradable by ${me}`), 'info says who may change the rules, next to the trust mode: ' + before.out)

  const notOwner = await run(guest, 'upgrade', key, dir + '/rsvp-v2.js')
  t.is(notOwner.code, 1)
  t.ok(notOwner.err.includes('is not an owner'), notOwner.err)

  const up = await run(owner, 'upgrade', key, dir + '/rsvp-v2.js')
  t.is(up.code, 0, up.err)
  t.ok(up.out.includes('upgraded to version 2') && up.out.includes(scriptHashHex(await readFile(dir + '/rsvp-v2.js', 'utf8'))), up.out)
  t.ok(/added +count/.test(up.out) && /removed +list/.test(up.out), 'prints what changed')

  // The guest's calls were made for version 1: the next one is refused, not run; run again, it goes to version 2.
  const changed = await run(guest, 'call', key, 'RSVP', 'false', 'v2?')
  t.is(changed.code, 1)
  t.ok(changed.err.includes('runs script version 2') && changed.err.includes('added count') && changed.err.includes('removed list') && changed.err.includes('The call did not run'), changed.err)
  const again = await run(guest, 'call', key, 'RSVP', 'false', 'v2')
  t.is(again.code, 0, again.err)
  const count = await run(guest, 'call', key, 'count')
  t.is(count.out.trim(), '1')

  const info = await run(guest, 'info', key, '--json')
  const facts = JSON.parse(info.out)
  t.is(facts.version, 2)
  t.alike(facts.history.map((v: { version: number; filename: string; from: number }) => [v.version, v.filename, v.from]), [[1, 'rsvp.js', 0], [2, 'rsvp-v2.js', 3]], 'history: v1 from the genesis, v2 from entry 3')
  const text = await run(guest, 'info', key)
  t.ok(/v1 [0-9a-f]{16}… rsvp\.js, entries 0–2/.test(text.out) && /v2 [0-9a-f]{16}… rsvp-v2\.js, entries 3 on/.test(text.out), text.out)

  const audit = await run(guest, 'audit', key)
  t.is(audit.code, 0, audit.err)
  t.ok(audit.out.includes('verified across 2 script versions'), audit.out)
  t.is(await stop(served.child), 0)

  // --immutable: nobody may upgrade.
  const fixed = await serve(owner, dir + '/rsvp.js', '--storage', await t.tmp(), '--immutable')
  t.teardown(() => { if (fixed.child.exitCode === null) fixed.child.kill('SIGKILL') })
  t.alike(JSON.parse(fixed.lines[0]!).owners, [])
  const refused = await run(owner, 'upgrade', fixed.key, dir + '/rsvp-v2.js')
  t.is(refused.code, 1)
  t.ok(refused.err.includes('is immutable'), refused.err)
  t.ok((await run(guest, 'info', fixed.key)).out.includes('immutable: the script never changes'))
  t.is(await stop(fixed.child), 0)
})

function scriptHashHex(source: string): string {
  return Buffer.from(scriptHash(source)).toString('hex')
}

test('cli: a VM made by create is served by serve --storage, and its log and replay still work there', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const storage = await t.tmp()
  const created = await run(env, 'create', EXAMPLE, '--storage', storage)
  t.is(created.code, 0, created.err)
  const key = created.out.trim()
  const served = await serve(env, '--storage', storage)
  t.teardown(() => { if (served.child.exitCode === null) served.child.kill('SIGKILL') })
  t.is(served.key, key, 'serve --storage alone serves the VM create made')
  const info = await run(env, 'info', key, '--json')
  t.is(info.code, 0, info.err)
  const { existsSync } = await import('node:fs')
  t.absent(existsSync(env.VMS_HOME + '/identity.json'), 'reading (info, files) makes no caller identity')
  const yes = await run(env, 'call', key, 'RSVP', 'true', 'made by create', '--json')
  t.is(yes.code, 0, yes.err)
  // After `--`, everything is an argument: here the reason is the word --view, not the flag.
  const dashed = await run(env, 'call', key, 'RSVP', '--json', '--', 'false', '--view')
  t.is(dashed.code, 0, dashed.err)
  t.is(JSON.parse(dashed.out).receipt.index, JSON.parse(yes.out).receipt.index + 1, 'logged (not run as a view)')
  const list = JSON.parse((await run(env, 'call', key, 'listRSVPs', '--view', '--json')).out).result as Record<string, { reason: string }>
  t.alike(Object.values(list).map((r) => r.reason), ['--view'], 'and `--` itself is not an argument')
  t.is(await stop(served.child), 0)
  const again = await serve(env, EXAMPLE, '--storage', storage)
  t.teardown(() => { if (again.child.exitCode === null) again.child.kill('SIGKILL') })
  t.is(again.key, key, 'and so does serve with its script: the same VM, not a second one')
  t.is(again.lines.filter((l) => JSON.parse(l).event === 'serving').length, 1)
  t.is(await stop(again.child), 0)
  const replayed = await run(env, 'replay', storage, '--json')
  t.is(replayed.code, 0, replayed.err)
  t.is(JSON.parse(replayed.out).calls, 2, 'replayed from the storage, the calls included')
})

test('cli: mirror of a VM nobody serves yet waits for it, then mirrors it (a volunteer started before the host)', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  // The VM exists (its key is known) but is not served yet.
  const hostStorage = await t.tmp()
  const created = await run(env, 'create', EXAMPLE, '--storage', hostStorage)
  const key = created.out.trim()
  const mirror = spawn(process.execPath, [BIN, 'mirror', key, '--storage', await t.tmp(), '--timeout', '500', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  t.teardown(() => { if (mirror.exitCode === null) mirror.kill('SIGKILL') })
  const events: Array<{ event: string; tries?: number }> = []
  const seen = (name: string, n = 1) => new Promise<void>((resolve) => {
    const check = () => { if (events.filter((e) => e.event === name).length >= n) resolve(); else setTimeout(check, 50) }
    check()
  })
  onLines(mirror.stdout!, (line) => events.push(JSON.parse(line)))
  await seen('waiting', 2)
  t.ok(mirror.exitCode === null, 'still running after looking twice')
  const served = await serve(env, '--storage', hostStorage)
  t.teardown(() => { if (served.child.exitCode === null) served.child.kill('SIGKILL') })
  await seen('held')
  t.ok(events.some((e) => e.event === 'mirroring'), 'then mirrors it')
  t.is(await stop(served.child), 0)
  t.is(await stop(mirror), 0)
})

test('cli: a mirror whose disk fills up says so (nothing else does); started again with space, it finishes the copy', { skip: !CAN_MOUNT }, async (t) => {
  const disk = await smallDisk(t, 8)
  if (!disk) {
    t.comment('cannot mount a small disk here: nothing to check')
    t.pass()
    return
  }
  const children: ChildProcess[] = []
  const net = await testnet(t)
  // The mirror processes end before the disk is unmounted.
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null) { c.kill('SIGKILL'); await new Promise((r) => c.once('exit', r)) }
  })
  // ~15 MB of files: more than the mirror's 8 MB disk holds.
  const host = await node(t, net)
  const vm = await host.host(`exports.big = async (i) => { await System.files.writeFile('/f' + i, 'x'.repeat(100000)) }`, { name: 'big' })
  const caller = await node(t, net)
  const handle = await caller.dial(vm.key)
  await Promise.all(Array.from({ length: 150 }, (_, i) => handle.call('big', i)))
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const mirror = (until: string) => new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'mirror', vm.key.toString('hex'), '--storage', disk.dir + '/mirror', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    children.push(child)
    const events: Array<Record<string, unknown>> = []
    let seen = false
    onLines(child.stdout!, (line) => {
      const ev = JSON.parse(line) as Record<string, unknown>
      events.push(ev)
      if (ev.event === until && !seen) { seen = true; child.kill('SIGINT') }
    })
    child.on('exit', (code) => seen ? resolve(events) : reject(new Error(`mirror exited with ${code} before ${until}`)))
  })
  const first = await mirror('stalled')
  const stalled = first.find((e) => e.event === 'stalled')!
  t.ok(typeof stalled.diskFree === 'number' && (stalled.diskFree as number) < 64 * 1024 * 1024, `it stalled with ${stalled.diskFree} bytes free on its disk`)
  t.absent(first.some((e) => e.event === 'held'), 'it did not hold the VM')
  disk.grow(64)
  const second = await mirror('held')
  const held = second.find((e) => e.event === 'held')!
  t.is(held.length, vm.log.length, 'started again with space, it holds the whole log')
  t.is(held.blobs, (await vm.drive.getBlobs()).core.length, 'and every file\'s contents')
})

test('cli --local: serve starts a loopback DHT on the fixed port, call finds the VM through it', async (t) => {
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: '' }
  const { child, key } = await serve(env, EXAMPLE, '--storage', await t.tmp(), '--local')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const yes = await run(env, 'call', key, 'RSVP', 'true', 'local', '--local', '--json')
  t.is(yes.code, 0, yes.err)
  t.is(JSON.parse(yes.out).receipt.index, 2)
  t.is(await stop(child), 0)
})

test('cli: serve --allow-deploy, then deploy, ls and stop from another process', async (t) => {
  const net = await testnet(t)
  const home = await t.tmp()
  const env = { VMS_HOME: home, VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  // The deployer's identity, where the CLI keeps it (VMS_HOME/identity.json).
  const { writeFile } = await import('node:fs/promises')
  const { Identity } = await import('../src/index.js')
  const crypto = (await import('hypercore-crypto')).default
  const seed = crypto.randomBytes(32)
  await writeFile(home + '/identity.json', JSON.stringify({ seed: seed.toString('hex') }))
  const me = Identity.fromSeed(seed).id
  const node = await new Promise<{ child: ChildProcess; key: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--json', '--storage', home + '/node', '--allow-deploy', me], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    child.stdout.once('data', (d) => resolve({ child, key: JSON.parse(String(d).split('\n')[0]!).key }))
    child.on('exit', (code) => reject(new Error('serve exited ' + code)))
  })
  t.teardown(() => { if (node.child.exitCode === null) node.child.kill('SIGKILL') })
  const deployed = await run(env, 'deploy', EXAMPLE, '--to', node.key, '--json')
  t.is(deployed.code, 0, deployed.err)
  const key = JSON.parse(deployed.out).key
  const called = await run(env, 'call', key, 'RSVP', 'true', 'deployed')
  t.is(called.code, 0, called.err)
  const ls = await run(env, 'ls', '--to', node.key, '--json')
  t.is(JSON.parse(ls.out.trim()).key, key)
  const stopped = await run(env, 'stop', key, '--to', node.key)
  t.is(stopped.code, 0)
  t.is(await stop(node.child), 0)
})

test('cli: log and replay of a node\'s storage that holds several VMs ask which one', async (t) => {
  const net = await testnet(t)
  const storage = await t.tmp()
  const host = await node(t, net, { storage })
  await host.host(RSVP, { name: 'one' })
  await host.host(RSVP, { name: 'two' })
  await host.close()
  const which = await run({}, 'log', storage)
  t.is(which.code, 1)
  t.ok(which.err.includes('2 VMs (one, two)') && which.err.includes('--vm NAME'), which.err.trim())
  const two = await run({}, 'replay', storage, '--vm', 'two', '--json')
  t.is(JSON.parse(two.out).ok, true, 'with --vm it replays that one')
})

test('cli: gateway serves the browser client and the explorer on loopback; a bad --origin, and a page of another origin, are refused; Ctrl-C stops it', async (t) => {
  const net = await testnet(t)
  const env = { VMS_HOME: await t.tmp(), VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` }
  const served = await serve(env, EXAMPLE, '--storage', await t.tmp())
  t.teardown(() => { if (served.child.exitCode === null) served.child.kill('SIGKILL') })
  const bad = await run(env, 'gateway', '--origin', 'localhost:3000')
  t.is(bad.code, 1)
  t.ok(bad.err.includes('--origin localhost:3000 is not an origin'), bad.err)
  const gateway = await new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'gateway', '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    onLines(child.stdout, (line) => { const ev = JSON.parse(line); if (ev.event === 'gateway') resolve({ child, url: ev.url }) })
    child.on('exit', (code) => reject(new Error('gateway exited ' + code)))
  })
  t.teardown(() => { if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL') })
  t.ok(/^http:\/\/127\.0\.0\.1:\d+$/.test(gateway.url), 'on loopback: ' + gateway.url)
  const client = await fetch(gateway.url + '/browser.js')
  t.is(client.status, 200)
  t.ok(client.headers.get('content-type')?.startsWith('text/javascript'))
  const explorer = await fetch(`${gateway.url}/vm/${served.key}`)
  t.is(explorer.status, 200)
  t.ok((await explorer.text()).includes('/explorer.js'), 'the explorer page')
  t.is((await fetch(gateway.url + '/../package.json')).status, 404)
  const { WebSocket } = await import('ws')
  const refused = await new Promise<string>((resolve) => {
    const ws = new WebSocket(gateway.url.replace('http', 'ws'), { headers: { origin: 'http://elsewhere.example' } })
    ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)))
    ws.on('open', () => { ws.close(); resolve('open') })
    ws.on('error', () => {})
  })
  t.is(refused, '403', 'a page of another origin is refused')
  const code = await new Promise<number | null>((resolve) => { gateway.child.removeAllListeners('exit'); gateway.child.on('exit', resolve); gateway.child.kill('SIGINT') })
  t.is(code, 0, 'Ctrl-C stops it')
  t.is(await stop(served.child), 0)
})

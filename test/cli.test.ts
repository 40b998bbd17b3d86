import test from 'brittle'
import { VmHost, Identity } from '../src/index.js'
import { openCores, RSVP } from './helpers/index.js'
import { runCli } from './helpers/cli.js'

const EXAMPLE = new URL('../../examples/rsvp.js', import.meta.url).pathname

const run = (...args: string[]) => runCli(args)

test('cli: create, log and replay a VM from its storage', async (t) => {
  const dir = await t.tmp()
  const created = await run('create', EXAMPLE, '--storage', dir)
  t.is(created.code, 0)
  const key = created.out.trim()
  t.is(key.length, 52, 'prints the VM key in z-base-32')
  const host = await VmHost.open(dir)
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'from the cli test']))
  await host.close()
  const log = await run('log', dir)
  t.is(log.code, 0)
  t.ok(log.out.includes(key))
  t.ok(log.out.includes('RSVP'))
  const ok = await run('replay', dir)
  t.is(ok.code, 0)
  t.ok(ok.out.startsWith('verified: entries 1–'), 'says what was verified')
  t.ok(ok.err.includes('100%'), 'shows progress')
  t.absent(ok.err.includes('\r'), 'progress to a pipe is whole lines, not one line redrawn')
  t.ok(ok.err.trimEnd().split('\n').pop()!.includes('100%'), 'its last line is where the replay ended')
  const json = await run('replay', dir, '--json')
  t.is(JSON.parse(json.out).ok, true)
  const named = await run('log', dir, '--vm', 'rsvp')
  t.is(named.code, 1)
  t.ok(named.err.includes('is not a node\'s storage') && named.err.includes('without --vm'), 'a VM\'s own storage takes no --vm: ' + named.err.trim())
})

test('cli: a tampered archive exits 1 and names the divergence; bad input exits non-zero with a hint', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  await host.call(Identity.generate().sign(host.key, 'RSVP', [true]))
  await host.close()
  {
    const cores = await openCores(t, dir)
    await cores.drive.put('/rsvps/mallory.json', 'x')
    await cores.drive.close()
    await cores.log.close()
    await cores.store.close()
  }
  const bad = await run('replay', dir)
  t.is(bad.code, 1)
  t.ok(bad.out.includes('DIVERGENCE (files-tampered)'), 'names the class')
  const missing = await run('replay', dir + '-nope')
  t.is(missing.code, 2, 'a replay that could not run exits 2')
  t.ok(missing.err.includes('does not exist'), 'says the directory does not exist')
  const noScript = await run('create', dir + '/nothing.js', '--storage', await t.tmp())
  t.is(noScript.code, 1)
  t.ok(noScript.err.includes('cannot read'))
  // Bad arguments: exit 2 for replay ("could not finish"), as its 1 says "a divergence".
  for (const [args, message] of [
    [['--from', 'abc'], '--from abc is not a whole number of at least 1'],
    [['--to', 'abc'], '--to abc is not a whole number of at least 2'],
    [['--to', '1'], '--to 1 is not a whole number of at least 2'],
    [['--from', '0'], '--from 0 is not a whole number of at least 1'],
    [['--from=-3'], '--from -3 is not a whole number'],
    [['--from', '-3'], '--from needs a value (one starting with "-" reads as a flag: write --from=VALUE'],
    [['--to'], '--to needs a value'],
    [['--from', '2'], 'REPLAY_INVALID: entry 2 is not a load (or upgrade) entry'],
    [['--from', '99'], 'REPLAY_INVALID: cannot start at entry 99'],
    [['--bogus'], 'unknown flag: bogus (see vms-node <command> --help)']
  ] as Array<[string[], string]>) {
    const res = await run('replay', dir, ...args)
    t.is(res.code, 2, `replay ${args.join(' ')} exits 2`)
    t.ok(res.err.startsWith('vms-node: ' + message) && !res.err.includes('    at '), `with a message, not a stack: ${res.err.trim()}`)
  }
  // Other commands exit 1, before they make anything or reach the network.
  const home = await t.tmp()
  for (const [args, message] of [
    [['serve', dir + '/nothing.js', '--files-cache', 'lots', '--storage', await t.tmp()], '--files-cache lots is not a whole number of at least 1'],
    [['serve', '--allow-deploy', 'x'.repeat(52), '--max-vms', 'x'], '--max-vms x is not a whole number'],
    [['serve', '--max-calls-per-second', '-1'], '--max-calls-per-second needs a value'],
    [['serve', '--max-storage=10GB'], '--max-storage 10GB is not a whole number'],
    [['serve', '--max-vms', '5'], '--max-vms, --max-calls-per-second and --max-storage limit what deployers make: give them with --allow-deploy KEY'],
    [['serve'], 'nothing to serve: give scripts, a --storage that holds VMs (' + home + '/storage does not exist), or --allow-deploy'],
    [['serve', dir + '/nothing.js'], 'cannot read ' + dir + '/nothing.js'],
    [['serve', dir + '/nothing.js', '--storage'], '--storage needs a value'],
    [['call', 'x'.repeat(52), 'RSVP', '--timeout', 'soon'], '--timeout soon is not a whole number of at least 1'],
    [['call', 'x'.repeat(52), 'RSVP', 'true', '--bootstrap'], '--bootstrap needs a value'],
    [['mirror', 'x'.repeat(52), '--timeout', '1.5'], '--timeout 1.5 is not a whole number'],
    [['testnet', '--port', '99999'], '--port 99999 is not a whole number from 1 to 65535']
  ] as Array<[string[], string]>) {
    const res = await runCli(args, { env: { VMS_HOME: home } })
    t.is(res.code, 1, `${args.join(' ')} exits 1`)
    t.ok(res.err.startsWith('vms-node: ' + message), res.err.trim())
  }
  const { readdir } = await import('node:fs/promises')
  t.alike(await readdir(home), [], 'no identity was made for a call that never ran')
})

test('cli: a log audited in stretches by separate processes, combined', async (t) => {
  const dir = await t.tmp()
  let host = await VmHost.create(dir, { script: RSVP })
  for (let round = 0; round < 2; round++) {
    await host.call(Identity.generate().sign(host.key, 'RSVP', [true, 'r' + round]))
    await host.close()
    host = await VmHost.open(dir)
  }
  const length = host.log.length
  await host.close()
  // Load entries sit at 1, 3 and 5: two stretches, [1, 3) and [3, end).
  const a = await run('replay', dir, '--from', '1', '--to', '3', '--json')
  const b = await run('replay', dir, '--from', '3', '--json')
  t.is(a.code, 0)
  t.is(b.code, 0)
  const out = await t.tmp()
  const { writeFile } = await import('node:fs/promises')
  await writeFile(out + '/a.json', a.out)
  await writeFile(out + '/b.json', b.out)
  const both = await run('combine', out + '/a.json', out + '/b.json', '--json')
  t.is(both.code, 0)
  const whole = JSON.parse(both.out)
  t.is(whole.ok, true)
  t.is(whole.to, length)
  const gap = await run('combine', out + '/b.json')
  t.is(gap.code, 0, 'a single stretch combines with itself')
  const onlyLater = JSON.parse((await run('combine', out + '/b.json', '--json')).out)
  t.is(onlyLater.from, 3, 'and says where it starts: not a whole-log verdict')
})

test('cli: --version prints the version, and no command prints what there is to do', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const version = await run('--version')
  t.is(version.code, 0)
  t.is(version.out.trim(), `vms-node ${pkg.version}`)
  const bare = await run()
  t.is(bare.code, 0)
  t.ok(bare.out.includes('Commands:') && bare.out.includes('serve') && bare.out.includes('audit'), 'the commands, as --help lists them')
})

test('cli: a damaged identity file is reported, never replaced (its key would be lost)', async (t) => {
  const home = await t.tmp()
  const { writeFile, readFile } = await import('node:fs/promises')
  await writeFile(home + '/identity.json', '{"seed": "ab')
  const res = await runCli(['call', Identity.generate().id, 'RSVP', '--bootstrap', '127.0.0.1:9'], { env: { VMS_HOME: home } })
  t.not(res.code, 0)
  t.ok(/cannot read identity .*identity\.json.*repair or move it/.test(res.err), res.err)
  t.is(await readFile(home + '/identity.json', 'utf8'), '{"seed": "ab', 'the file is untouched')
})

test('cli: commands that make the identity at the same moment all get the same one, written whole', async (t) => {
  const home = await t.tmp()
  const { readdir } = await import('node:fs/promises')
  const { loadIdentity } = await import('../src/cli/config.js')
  const before = process.env.VMS_HOME
  process.env.VMS_HOME = home + '/new-home'
  try {
    const ids = (await Promise.all(Array.from({ length: 8 }, () => loadIdentity()))).map((identity) => identity.id)
    t.is(new Set(ids).size, 1, 'one identity, not one per command')
    t.alike(await readdir(home + '/new-home'), ['identity.json'], 'and no partial files left next to it')
    t.is((await loadIdentity()).id, ids[0], 'the next command reads the same one')
  } finally {
    if (before === undefined) delete process.env.VMS_HOME
    else process.env.VMS_HOME = before
  }
  const made: string[] = []
  const bob = await loadIdentity(home + '/bob.json', (path) => made.push(path))
  t.alike(made, [home + '/bob.json'], 'an --identity file that does not exist yet is made, and the maker hears of it')
  t.is((await loadIdentity(home + '/bob.json', (path) => made.push(path))).id, bob.id, 'once')
  t.is(made.length, 1)
})

test('cli: whoami prints the caller id, making the identity on first use and saying so', async (t) => {
  const home = await t.tmp()
  const first = await runCli(['whoami'], { env: { VMS_HOME: home } })
  t.is(first.code, 0, first.err)
  const id = first.out.trim()
  t.is(id.length, 52, 'a key in z-base-32')
  t.ok(first.err.includes(`made a new caller identity ${id} in ${home}/identity.json`), first.err)
  const again = await runCli(['whoami', '--json'], { env: { VMS_HOME: home } })
  t.alike(JSON.parse(again.out), { id, file: home + '/identity.json' }, 'the same one next time')
  t.is(again.err, '', 'and nothing said about it')
  const bob = await runCli(['whoami', '--identity', home + '/bob.json'], { env: { VMS_HOME: home } })
  t.is(bob.code, 0, bob.err)
  t.not(bob.out.trim(), id, 'another file, another caller')
})

test('cli: output piped into a reader that stops early (`| head`) ends quietly, exit 0', async (t) => {
  const dir = await t.tmp()
  const host = await VmHost.create(dir, { script: RSVP })
  const alice = Identity.generate()
  await Promise.all(Array.from({ length: 600 }, (_, i) => host.call(alice.sign(host.key, 'RSVP', [true, 'n' + i]))))
  await host.close()
  const { spawn } = await import('node:child_process')
  const { BIN } = await import('./helpers/cli.js')
  const child = spawn(process.execPath, [BIN, 'log', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => { err += d })
  // Read one chunk (far less than the ~90 KB the log prints), then stop reading, as `head` does.
  await new Promise<void>((resolve) => child.stdout.once('data', () => { child.stdout.destroy(); resolve() }))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.is(code, 0)
  t.is(err, '', 'no stack trace')
})

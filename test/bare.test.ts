import test from 'brittle'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { bareBinary } from './helpers/bare.js'
import { dirname } from 'node:path'
import { testnet, node } from './helpers/net.js'
import { RSVP } from './helpers/index.js'
import { formatKey, Identity } from '../src/index.js'
import { scriptHash } from '../src/messages/index.js'
import b4a from 'b4a'

// The Bare side: brittle tests run by brittle-bare under the Bare binary (fetched from the
// registry, see helpers/bare.ts; brittle's file globs are relative to the package root).
const ROOT = new URL('../..', import.meta.url).pathname
const BARE_TESTS = 'dist/test/bare/*.bare.js'
const require = createRequire(import.meta.url)
const BRITTLE_BARE = require.resolve('brittle/cmd.js')

test('bare: brittle-bare runs the client tests under Bare against a Node host', async (t) => {
  const BARE = bareBinary()
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  // A second VM, upgraded before the Bare client starts: a call pinned to version 1 must get SCRIPT_CHANGED.
  const owner = Identity.generate()
  const upgraded = await hostNode.host(RSVP, { name: 'upgraded', owners: [owner.publicKey] })
  await upgraded.upgrade(owner.signUpgrade(upgraded.key, RSVP + '\nexports.count = async () => (await System.files.readdir(\'/rsvps\')).length\n'))
  const storage = await t.tmp()
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    // brittle-bare's own launcher finds `bare` on PATH; put the Bare binary there.
    const env = {
      ...process.env,
      PATH: dirname(BARE) + ':' + (process.env.PATH ?? ''),
      VMS_BARE_STORAGE: storage, VMS_BARE_PORT: String(net.bootstrap[0]!.port), VMS_BARE_KEY: formatKey(vm.key),
      VMS_BARE_UPGRADED_KEY: formatKey(upgraded.key), VMS_BARE_OLD_HASH: b4a.toString(scriptHash(RSVP), 'hex')
    }
    const child = spawn(BARE, [BRITTLE_BARE, BARE_TESTS], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, out }))
  })
  const summary = /# tests = (\d+)\/(\d+) pass/.exec(out)
  // The Bare TAP is shown (as comments) only on failure: its top-level lines would read as ours.
  if (code !== 0) t.comment(out.split('\n').map((l) => '  bare: ' + l).join('\n'))
  t.is(code, 0, 'brittle-bare exits 0')
  t.ok(summary && summary[1] === summary[2] && Number(summary[2]) >= 8, `every Bare test passed (${summary?.[0] ?? 'no summary'})`)
  t.ok(/ok \d+ - call it: signed, logged/.test(out), 'including the call and its receipt')
  t.ok(/ok \d+ - a call made for a script version that was upgraded away/.test(out), 'and SCRIPT_CHANGED')
})

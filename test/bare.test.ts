import test from 'brittle'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { testnet, node } from './helpers/net.js'
import { RSVP } from './helpers/index.js'
import { formatKey } from '../src/index.js'

const FIXTURE = new URL('./fixtures/bare-client.js', import.meta.url).pathname
// The prebuilt Bare binary that bare-runtime ships.
const BARE = (createRequire(import.meta.url)('bare-runtime') as () => string)()

test('bare: a client under Bare dials a VM, calls it, reads its files; hosting fails clearly', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp' })
  const storage = await t.tmp()
  const lines = await new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
    const child = spawn(BARE, [FIXTURE, storage, String(net.bootstrap[0]!.port), formatKey(vm.key)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('error', reject)
    child.on('exit', (code) => code === 0 ? resolve(out.trim().split('\n').map((l) => JSON.parse(l))) : reject(new Error(`bare exited ${code}: ${err}${out}`)))
  })
  const step = (name: string) => lines.find((l) => l.step === name)
  t.absent(step('error'), JSON.stringify(step('error')))
  t.is(step('info')?.runtime, 'bare')
  t.alike(step('info')?.methods, ['RSVP', 'list'])
  t.is(step('call')?.index, 2)
  t.is(step('files')?.body, '{"isAttending":true,"reason":"from Bare"}')
  t.is(step('host')?.code, 'SANDBOX_UNAVAILABLE')
})

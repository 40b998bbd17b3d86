import test, { type Test } from 'brittle'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Identity, VmHost, replay } from '../src/index.js'
import { createHost } from './helpers/index.js'

// The six examples of NodeVMS (pfrazee/nodevms, examples/), each with the
// calls NodeVMS answered and its answers. Their code is not ours to ship:
// each scenario runs a script written here the way the example is written
// (the same System.files calls, the same reliance on readFile giving a
// string), and, when VMS_NODEVMS_EXAMPLES names a folder holding NodeVMS's
// own examples/, the example file itself, unmodified.
const EXAMPLES = process.env.VMS_NODEVMS_EXAMPLES

const OURS: Record<string, string> = {
  'counter.js': `
let count = 0
exports.inc = async () => count++
`,
  'persisted-counter.js': `
exports.inc = async () => {
  let n = await load()
  n++ // a string from readFile: ++ makes it a number
  await System.files.writeFile('/counter', '' + n)
  return n
}
async function load () {
  try { return await System.files.readFile('/counter') } catch (err) { return 0 }
}
`,
  'files-archive.js': `
exports.write = async (path, text) => { await System.files.writeFile(path, text) }
exports.read = async (path) => System.files.readFile(path)
`,
  'hello-world.js': `
exports.helloWorld = () => System.caller.id ? 'Hello, ' + System.caller.id + '!' : 'Hello, world!'
`,
  'userauth.js': `
exports.whoami = () => System.caller.id
`,
  'keyserver.js': `
exports.init = async () => { await System.files.mkdir('/keys') }
exports.setKey = async (name, pubkey) => {
  check(typeof name === 'string' && name, 'Name param must be a string')
  check(typeof pubkey === 'string' && pubkey, 'Pubkey param must be a string')
  mustBeAdmin(await admins())
  await System.files.writeFile('/keys/' + name, pubkey)
}
exports.delKey = async (name) => {
  check(typeof name === 'string' && name, 'Name param must be a string')
  mustBeAdmin(await admins())
  await System.files.unlink('/keys/' + name)
}
exports.setAdmins = async (list) => {
  mustBeAdmin(await admins())
  await System.files.writeFile('/admins', JSON.stringify(list))
}
async function admins () {
  try { return JSON.parse(await System.files.readFile('/admins')) } catch (err) { return [] }
}
function mustBeAdmin (list) {
  if (list.length === 0) return // no admins yet: anyone may set them
  check(list.some((a) => a.id === System.caller.id), 'Not allowed')
}
function check (ok, message) { if (!ok) throw new Error(message) }
`
}

/** One caller's calls to a VM: the result, or the error's message as the caller sees it. */
function caller(host: VmHost, who = Identity.generate()) {
  return {
    id: who.id,
    call: (method: string, ...args: unknown[]) => host.call(who.sign(host.key, method, args)).then((a) => a.result, (e: Error & { remote?: { message: string } }) => ({ error: e.remote?.message ?? e.message }))
  }
}

const SCENARIOS: Record<string, (t: Test, host: VmHost, dir: string) => Promise<VmHost>> = {
  async 'counter.js' (t, host) {
    const alice = caller(host)
    t.alike([await alice.call('inc'), await alice.call('inc'), await alice.call('inc')], [0, 1, 2], 'inc counts from 0 in memory')
    return host
  },
  async 'persisted-counter.js' (t, host, dir) {
    const alice = caller(host)
    t.alike([await alice.call('inc'), await alice.call('inc'), await alice.call('inc')], [1, 2, 3], 'inc counts 1, 2, 3: readFile gives "1", not bytes')
    await host.close()
    host = await VmHost.open(dir)
    t.is(await caller(host).call('inc'), 4, 'and goes on from the archive after a restart')
    return host
  },
  async 'files-archive.js' (t, host) {
    const alice = caller(host)
    t.is(await alice.call('write', 'hello.txt', 'world'), undefined)
    t.is(await alice.call('read', 'hello.txt'), 'world', 'read gives back the string written')
    t.is(await alice.call('read', '/hello.txt'), 'world', 'a path is absolute with or without its /')
    t.ok(String((await alice.call('read', 'nope.txt') as { error: string }).error).includes('ENOENT'), 'a missing file fails the call')
    return host
  },
  async 'hello-world.js' (t, host) {
    const alice = caller(host)
    t.is(await alice.call('helloWorld'), `Hello, ${alice.id}!`, 'greets the caller by id')
    return host
  },
  async 'userauth.js' (t, host) {
    const alice = caller(host)
    const bob = caller(host)
    t.is(await alice.call('whoami'), alice.id)
    t.is(await bob.call('whoami'), bob.id, 'each caller is told who they are')
    return host
  },
  async 'keyserver.js' (t, host) {
    const alice = caller(host)
    const bob = caller(host)
    t.is(await alice.call('setAdmins', [{ id: alice.id, name: 'alice' }]), undefined, 'with no admins yet, anyone sets them')
    t.is(await alice.call('setKey', 'alice', 'pk-alice'), undefined, 'an admin binds a key')
    t.alike(await bob.call('setKey', 'bob', 'pk-bob'), { error: 'Not allowed' }, 'a non-admin may not (the admins file reads as JSON text)')
    t.alike(await bob.call('setAdmins', [{ id: bob.id, name: 'bob' }]), { error: 'Not allowed' }, 'nor make themselves admin')
    t.alike(await bob.call('delKey', 'alice'), { error: 'Not allowed' })
    t.alike(await alice.call('setKey', 7, 'x'), { error: 'Name param must be a string' }, 'bad parameters are refused')
    t.is(await alice.call('delKey', 'alice'), undefined, 'the admin deletes it')
    const keys: string[] = []
    for await (const e of host.drive.list('/keys')) keys.push(e.key)
    t.alike(keys, [], 'the archive holds no key')
    return host
  }
}

for (const [name, scenario] of Object.entries(SCENARIOS)) {
  test(`nodevms: ${name} (a script written as the example is) answers as NodeVMS did`, async (t) => {
    await runScenario(t, OURS[name]!, name, scenario)
  })
  test(`nodevms: examples/${name} itself, unmodified`, async (t) => {
    const file = EXAMPLES && join(EXAMPLES, name)
    if (!file || !existsSync(file)) {
      t.comment(`skipped: set VMS_NODEVMS_EXAMPLES to a folder holding NodeVMS's examples/ (pfrazee/nodevms) to run ${name} itself`)
      t.pass('not run: NodeVMS\'s examples are not here')
      return
    }
    await runScenario(t, readFileSync(file, 'utf8'), name, scenario)
  })
}

async function runScenario(t: Test, script: string, name: string, scenario: (t: Test, host: VmHost, dir: string) => Promise<VmHost>): Promise<void> {
  const { host, dir } = await createHost(t, script, { filename: name })
  const last = await scenario(t, host, dir)
  if (last !== host) t.teardown(() => last.close())
  const report = await replay(last.logAndFiles())
  t.ok(report.ok, `the log replays clean (${report.calls} calls)`)
}

import test from 'brittle'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { oldNode, sandboxUnavailable } from '../src/sandbox/availability.js'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

/** A Node older than 24 on this machine (the system's, where it is one), to run the CLI under. */
async function olderNode(): Promise<{ path: string; version: string } | null> {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(path)) continue
    const { stdout } = await run(path, ['-p', 'process.versions.node'])
    const version = stdout.trim()
    if (Number(version.split('.')[0]) < 24) return { path, version }
  }
  return null
}

test('node version: the sandbox runs here, and an older Node is told which to install', async (t) => {
  t.is(sandboxUnavailable(), null, `the sandbox runs under Node ${process.versions.node}`)
  t.is(oldNode(process.versions.node), null)
  t.is(oldNode('22.11.0'), 'this is Node 22.11.0: install Node 24 LTS (nvm install 24) or Node 26, then run npm install again')
  t.ok(oldNode('20.20.2')?.startsWith('this is Node 20.20.2'))
})

test('node version: the CLI under an older Node says which Node to install, and nothing else', async (t) => {
  const old = await olderNode()
  if (!old) {
    t.comment('no Node older than 24 at /usr/bin or /usr/local/bin: the CLI check was not run under one')
    t.pass('nothing to run')
    return
  }
  const err = await run(old.path, [`${ROOT}/bin/vms-node.js`, 'whoami']).then(() => null, (e: { code: number; stdout: string; stderr: string }) => e)
  t.ok(err, `exits non-zero under Node ${old.version}`)
  t.is(err?.code, 1)
  t.is(err?.stdout, '')
  t.is(err?.stderr, `vms-node needs Node 24 or 26; this is Node ${old.version}. Install Node 24 LTS (nvm install 24, or https://nodejs.org), then run npm install again.\n`)
  // The library, imported there, says the same when asked to host.
  const { stdout } = await run(old.path, ['--input-type=module', '-e', `import { sandboxUnavailable } from '${ROOT}/dist/src/sandbox/availability.js'; console.log(sandboxUnavailable())`])
  t.is(stdout.trim(), `hosting a VM needs the sandbox (isolated-vm on Node 24 or 26): this is Node ${old.version}: install Node 24 LTS (nvm install 24) or Node 26, then run npm install again`)
})

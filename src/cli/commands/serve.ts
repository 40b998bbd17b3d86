import { command, flag, rest, summary, description } from 'paparam'
import { readFile as readText, stat } from 'node:fs/promises'
import { join, basename } from 'node:path'
import { VmsNode } from '../../node/vms-node.js'
import { vmName } from '../../node/node-registry.js'
import { formatKey, toKey } from '../../identity.js'
import { VmsError } from '../../errors.js'
import { chooseDht, vmsHome, loadIdentity } from '../config.js'
import { fail } from '../fail.js'
import { wholeFlag, restAndFlags, netFlags, identityFlag } from '../flags.js'
import { announceIdentity } from '../connect.js'
import type { Identity } from '../../identity.js'
import b4a from 'b4a'
import { stopSignal, untilStopped } from '../stop-signal.js'
import { reopenProgress } from '../progress.js'

export const serveCmd = command(
  'serve',
  summary('Serve VMs: create one per script (or reopen them) and announce each on the DHT by key'),
  description('Reopening the same --storage serves the same VMs with the same keys; `serve --storage DIR` alone serves what is there.\nStops gracefully on SIGINT/SIGTERM: calls in flight finish, then the node leaves the DHT.'),
  rest('[...scripts]', 'service scripts'),
  flag('--storage <dir>', 'the node\'s storage directory (default: $VMS_HOME/storage)'),
  flag('--oracle <name=file>', 'add an oracle: the file exports the function scripts call as System.oracles.NAME (repeatable; makes the VM trusted)'),
  flag('--allow-deploy <key>', 'accept `vms-node deploy`, `ls` and `stop` from this caller key (repeatable)'),
  flag('--max-vms <n>', 'with --allow-deploy: most VMs this node hosts (default 100)'),
  flag('--max-calls-per-second <n>', 'with --allow-deploy: per VM (default 1000)'),
  flag('--max-storage <bytes>', 'with --allow-deploy: files per VM (default 256 MiB)'),
  flag('--owner <key>', 'who may upgrade the VMs made now (repeatable; default: your caller identity)'),
  flag('--immutable', 'make the new VMs immutable: their scripts never change'),
  identityFlag,
  flag('--files-cache <n>', 'decoded blocks of each VM\'s files archive kept in memory, ~3 KB each when full (default 131072; more keeps a VM of many files fast)'),
  ...netFlags,
  async () => {
    const scripts = restAndFlags(serveCmd, ['storage', 'bootstrap', 'max-vms', 'max-calls-per-second', 'max-storage', 'files-cache', 'identity'], ['local', 'json', 'immutable'], ['oracle', 'allow-deploy', 'owner'])
    const filesCache = wholeFlag(serveCmd.flags.filesCache, '--files-cache', 1, '131072')
    const oracles = await loadOracles(serveCmd.flags.oracle ?? [])
    const allow: string[] = serveCmd.flags.allowDeploy ?? []
    const quotas = {
      maxVms: wholeFlag(serveCmd.flags.maxVms, '--max-vms', 1, '100'),
      maxCallsPerSecond: wholeFlag(serveCmd.flags.maxCallsPerSecond, '--max-calls-per-second', 1, '1000'),
      maxStorageBytes: wholeFlag(serveCmd.flags.maxStorage, '--max-storage', 1, '268435456')
    }
    if (allow.length === 0 && Object.values(quotas).some((q) => q !== undefined)) fail('--max-vms, --max-calls-per-second and --max-storage limit what deployers make: give them with --allow-deploy KEY')
    const deploy = allow.length === 0 ? undefined : {
      allow: allow.map((k) => { try { return toKey(k) } catch { return fail(`--allow-deploy ${k} is not a key (z-base-32 or hex)`) } }),
      ...quotas
    }
    const json = !!serveCmd.flags.json
    // Governance of the VMs made now: upgradable by you (your caller identity), by --owner keys, or by nobody.
    const ownerFlags: string[] = serveCmd.flags.owner ?? []
    if (serveCmd.flags.immutable && ownerFlags.length > 0) fail('--immutable and --owner contradict each other: an immutable VM has no owner')
    const named = ownerFlags.map((k) => { try { return toKey(k) } catch { return fail(`--owner ${k} is not a caller key (z-base-32 or hex; see vms-node whoami)`) } })
    // Your identity is read (or made) only when a new VM is: serving what the storage holds signs nothing.
    let identity: Identity | null = null
    const ownersOfNew = async (): Promise<Uint8Array[]> => {
      if (serveCmd.flags.immutable) return []
      if (named.length > 0) return named
      identity ??= await loadIdentity(serveCmd.flags.identity, announceIdentity)
      return [identity.publicKey]
    }
    scripts.forEach((file, i) => {
      const twin = scripts.slice(i + 1).find((other) => basename(other) === basename(file))
      if (twin) fail(`${file} and ${twin} have the same name: a node knows its VMs by their scripts' file names (rename one, or serve it from another --storage)`)
    })
    // Scripts are read before anything is made or the DHT is joined.
    const texts = new Map<string, string>()
    for (const file of scripts) texts.set(file, await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`)))
    const storage = serveCmd.flags.storage || join(vmsHome(), 'storage')
    if (scripts.length === 0 && !deploy && !(await stat(storage).then(() => true, () => false))) fail(`nothing to serve: give scripts, a --storage that holds VMs (${storage} does not exist), or --allow-deploy`)
    const stopped = stopSignal()
    const dht = await chooseDht(serveCmd.flags)
    const node = new VmsNode({ storage, bootstrap: dht.bootstrap, deploy, filesCacheEntries: filesCache, onLog: (vm, level, msg) => json ? undefined : console.error(`[${vm} ${level}] ${msg}`) })
    await node.ready().catch((err: Error) => fail(err instanceof VmsError ? err.message : `cannot open ${storage}: ${err.message}`))
    const hosted = [] as Array<{ name: string; file: string; host: Awaited<ReturnType<VmsNode['host']>> }>
    try {
      const reopening = reopenProgress(`the VMs in ${storage}`, json)
      const stored = await node.hostStored({ oracles, onProgress: reopening.progress }).finally(reopening.end)
      for (const h of stored) hosted.push({ name: '', file: h.genesis!.filename, host: h })
      for (const { name, error } of node.unserved) {
        if (json) console.log(JSON.stringify({ event: 'not-serving', name, code: error.code, message: error.message }))
      }
      for (const file of scripts) {
        const script = texts.get(file)!
        const name = vmName(basename(file))
        if (node.unserved.some((u) => u.name === name)) continue // said above: it did not open
        const stored = hosted.find((h) => h.host.genesis!.filename === basename(file))
        if (stored) {
          // A script changes only by an upgrade, which the log records: a file edited since is not what this VM runs.
          if (stored.host.script.script !== script) console.error(notInForce(file, stored.host))
          continue
        }
        hosted.push({ name, file, host: await node.host(script, { name, filename: basename(file), oracles, owners: await ownersOfNew() }) })
      }
    } catch (err) {
      await node.close()
      fail((err as Error).message)
    }
    if (hosted.length === 0 && !deploy) {
      await node.close()
      fail(node.unserved.length > 0 ? `nothing to serve: no VM in ${storage} opened (said above)` : 'nothing to serve: give scripts, a --storage that holds VMs, or --allow-deploy')
    }
    if (deploy) {
      if (json) console.log(JSON.stringify({ event: 'node', key: formatKey(node.key), deployers: allow.length }))
      else console.log(`vms-node node ${formatKey(node.key)}   (deployers: vms-node deploy SCRIPT --to this key)`)
    }
    for (const { host } of hosted) {
      const key = formatKey(host.key)
      if (json) console.log(JSON.stringify({ event: 'serving', filename: host.genesis!.filename, key, files: formatKey(host.drive.key), version: host.script.version, owners: host.owners.map(formatKey), dht: dht.describe }))
      else console.log(`vms-node serving ${host.genesis!.filename}${host.script.version > 1 ? ` (version ${host.script.version})` : ''}\n  key   ${key}   (share this: it is the VM's address)\n  ${governance(host.owners, identity)}`)
    }
    if (!json) console.log(`  on the ${dht.describe}; storage ${storage}; Ctrl-C to stop`)
    await untilStopped(stopped, json, 'finishing calls in flight, leaving the DHT')
    await node.close()
    await dht.local?.destroy()
    if (json) console.log(JSON.stringify({ event: 'stopped' }))
  }
)

/** Who can change a VM's rules, as serve says it. */
function governance(owners: Uint8Array[], you: Identity | null): string {
  if (owners.length === 0) return 'immutable: its script never changes'
  const names = owners.map((o) => formatKey(o) + (you && b4a.equals(o, you.publicKey) ? ' (you)' : ''))
  return `upgradable by ${names.join(', ')}   (vms-node upgrade KEY SCRIPT)`
}

/** A script file that is not the one its VM runs: what runs, and how to change it. */
function notInForce(file: string, host: { key: Uint8Array; owners: Uint8Array[]; script: { version: number; filename: string } }): string {
  const key = formatKey(host.key)
  const runs = `vms-node: ${file} is not the script VM ${key} runs (version ${host.script.version}, from ${host.script.filename}); it serves version ${host.script.version}`
  return host.owners.length === 0
    ? `${runs}. The VM is immutable: for the new script, make a new VM (rename the file, or use another --storage)`
    : `${runs}. To run ${file}, upgrade the VM as one of its owners: vms-node upgrade ${key} ${file}`
}

/** `--oracle name=./file.js`: the file's default export (or module.exports) is the oracle. */
async function loadOracles(specs: string[]): Promise<Record<string, (...args: any[]) => unknown>> {
  const out: Record<string, (...args: any[]) => unknown> = {}
  const { pathToFileURL } = await import('node:url')
  const { resolve } = await import('node:path')
  for (const spec of specs) {
    const i = spec.indexOf('=')
    if (i <= 0) fail(`bad --oracle ${spec}: use --oracle NAME=./file.js`)
    const name = spec.slice(0, i)
    const mod = await import(pathToFileURL(resolve(spec.slice(i + 1))).href).catch((err: Error) => fail(`cannot load oracle ${name} from ${spec.slice(i + 1)}: ${err.message}`))
    const fn = typeof mod.default === 'function' ? mod.default : mod
    if (typeof fn !== 'function') fail(`oracle ${name}: ${spec.slice(i + 1)} must export a function`)
    out[name] = fn
  }
  return out
}

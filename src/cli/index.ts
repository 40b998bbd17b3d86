/**
 * vms-node, the command line: a thin shell over the library.
 * (Serving, calling and mirroring over the swarm come with the swarm node.)
 */
import { command, flag, arg, rest, summary, description, bail } from 'paparam'
import { mkdtemp, rm, readFile as readText, stat, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, basename } from 'node:path'
import createTestnet from 'hyperdht/testnet.js'
import b4a from 'b4a'
import { VmsNode, type Mirrored } from '../node/vms-node.js'
import { verifyEvidence, type Evidence } from '../audit/evidence.js'
import { chooseDht, identityPath, loadIdentity, vmsHome, LOCAL_PORT, type DhtChoice } from './config.js'
import { replay, combineReports, type ReplayReport } from '../audit/replay.js'
import { openVmCores, closeVmCores, type VmCores } from '../host/vm-storage.js'
import { VmHost } from '../host/vm-host.js'
import { formatKey, toKey } from '../identity.js'
import { signedLength } from '../receipt.js'
import { watchMirror, type MirrorProgress } from '../node/mirror-progress.js'
import { decodeEntry, EntryType, LoadReason, type FilesState } from '../messages/index.js'
import { VmsError } from '../errors.js'
import { checkStorageDir, storageOpenError } from '../storage-dir.js'
import { StatusLine } from './status-line.js'
import { NodeRegistry, vmStore, vmName } from '../node/node-registry.js'
import Corestore from 'corestore'

/** A flag that takes a whole number (undefined if not given); anything else fails, saying what it takes. */
function wholeFlag(value: unknown, flagName: string, min: number, example: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(`${flagName} ${String(value)} is not a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`} (say ${flagName} ${example})`)
  }
  return n
}

const replayCmd = command(
  'replay',
  summary('Audit a VM\'s call log and files archive from its storage directory'),
  description('Re-executes every call in a sandbox and checks signatures, outcomes and the files after each entry.\nThe VM must not be running (its storage is locked while it is).\nExits 0 when everything checks out, 1 on a divergence (named), 2 when the audit could not finish.'),
  arg('<storage>', 'the VM\'s storage directory, or a node\'s (`serve --storage`) with --vm'),
  flag('--vm <name>', 'in a node\'s storage: the VM (its script\'s name, as `serve` named it)'),
  flag('--from <index>', 'start at this load entry (a checkpoint) instead of the genesis'),
  flag('--to <index>', 'stop before this entry (audit a stretch; combine the reports with `vms-node combine`)'),
  flag('--json', 'print the report as one JSON object'),
  async () => {
    const { storage } = replayCmd.args
    const json = !!replayCmd.flags.json
    await withCores(storage!, replayCmd.flags.vm, async (cores) => {
      const status = new StatusLine()
      const report = await replay(cores, {
        from: wholeFlag(replayCmd.flags.from, '--from', 1, '1'),
        to: wholeFlag(replayCmd.flags.to, '--to', 2, '1000'),
        onProgress: json ? undefined : replayProgress(status, Date.now())
      }).finally(() => status.end())
      printReport(report, json)
    })
  }
)

const logCmd = command(
  'log',
  summary('Print a VM\'s call log, one entry per line'),
  arg('<storage>', 'the VM\'s storage directory, or a node\'s (`serve --storage`) with --vm'),
  flag('--vm <name>', 'in a node\'s storage: the VM (its script\'s name, as `serve` named it)'),
  flag('--json', 'one JSON object per line'),
  async () => {
    const { storage } = logCmd.args
    await withCores(storage!, logCmd.flags.vm, async (cores) => {
      console.log(logCmd.flags.json ? JSON.stringify({ key: formatKey(cores.log.key), length: cores.log.length }) : `VM ${formatKey(cores.log.key)}: ${cores.log.length} entries`)
      for (let i = 0; i < cores.log.length; i++) {
        const e = decodeEntry((await cores.log.get(i))!, i)
        const line = e.type === EntryType.GENESIS
          ? { index: i, type: 'genesis', filename: e.filename, limits: e.limits, files: formatKey(e.filesKey) }
          : e.type === EntryType.LOAD
            ? { index: i, type: 'load', reason: LoadReason[e.reason]!.toLowerCase(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, note: e.note || undefined, files: e.files.dbLength }
            : { index: i, type: 'call', method: e.method, caller: formatKey(e.publicKey), args: Buffer.from(e.args).toString(), time: new Date(e.time).toISOString(), ok: e.outcome.ok, result: e.outcome.ok ? Buffer.from(e.outcome.value).toString() || undefined : `${e.outcome.error?.name}: ${e.outcome.error?.message}`, files: e.files.dbLength }
        console.log(logCmd.flags.json ? JSON.stringify(line) : Object.values(line).filter((v) => v !== undefined).map((v) => typeof v === 'object' ? JSON.stringify(v) : v).join('  '))
      }
    })
  }
)

const createCmd = command(
  'create',
  summary('Create a VM from a script in a storage directory, print its key, and exit'),
  arg('<script>', 'the service script'),
  flag('--storage <dir>', 'storage directory (required, must be empty)'),
  async () => {
    const file = createCmd.args.script!
    if (!createCmd.flags.storage) fail('give a storage directory with --storage DIR')
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    const host = await VmHost.create(createCmd.flags.storage, { script, filename: basename(file) })
    console.log(formatKey(host.key))
    await host.close()
  }
)

const net = [
  flag('--bootstrap <list>', 'DHT bootstrap nodes, host:port[,host:port…] (or VMS_BOOTSTRAP)'),
  flag('--local', `use a loopback DHT on 127.0.0.1 (started if none answers)`),
  flag('--json', 'machine-readable output: one JSON object per line')
]

const serveCmd = command(
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
  flag('--files-cache <n>', 'decoded blocks of each VM\'s files archive kept in memory, ~3 KB each when full (default 131072; more keeps a VM of many files fast)'),
  ...net,
  async () => {
    const scripts = restAndFlags(serveCmd, ['storage', 'bootstrap', 'max-vms', 'max-calls-per-second', 'max-storage', 'files-cache'], ['local', 'json'], ['oracle', 'allow-deploy'])
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
      for (const file of scripts) {
        const script = texts.get(file)!
        const name = vmName(basename(file))
        const stored = hosted.find((h) => h.host.genesis!.filename === basename(file))
        if (stored) {
          // A VM's script is fixed when it is made: the file changed since is not what this VM runs.
          if (stored.host.genesis!.script !== script) console.error(`vms-node: ${file} changed since VM ${formatKey(stored.host.key)} was made from it; a VM's script never changes, so it serves as it was made (for the new script, a new VM: rename the file or use another --storage)`)
          continue
        }
        hosted.push({ name, file, host: await node.host(script, { name, filename: basename(file), oracles }) })
      }
    } catch (err) {
      await node.close()
      fail((err as Error).message)
    }
    if (hosted.length === 0 && !deploy) { await node.close(); fail(`nothing to serve: give scripts, a --storage that holds VMs, or --allow-deploy`) }
    if (deploy) {
      if (json) console.log(JSON.stringify({ event: 'node', key: formatKey(node.key), deployers: allow.length }))
      else console.log(`vms-node node ${formatKey(node.key)}   (deployers: vms-node deploy SCRIPT --to this key)`)
    }
    for (const { host } of hosted) {
      const key = formatKey(host.key)
      if (json) console.log(JSON.stringify({ event: 'serving', filename: host.genesis!.filename, key, files: formatKey(host.drive.key), dht: dht.describe }))
      else console.log(`vms-node serving ${host.genesis!.filename}\n  key   ${key}   (share this: it is the VM's address)`)
    }
    if (!json) console.log(`  on the ${dht.describe}; storage ${storage}; Ctrl-C to stop`)
    await untilStopped(stopped, json, 'finishing calls in flight, leaving the DHT')
    await node.close()
    await dht.local?.destroy()
    if (json) console.log(JSON.stringify({ event: 'stopped' }))
  }
)

/**
 * SIGINT or SIGTERM from now on. Listen before the node says it serves: a
 * signal that comes right after must stop it gracefully, not kill it.
 */
function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
}

/**
 * Wait for the stop signal, then say what stopping does. A second signal
 * quits at once: storage is safe at any moment (an answered call is on disk;
 * one in flight is logged whole or not at all), so nobody waits on a DHT.
 */
async function untilStopped(signal: Promise<void>, json: boolean, doing: string, before?: () => void): Promise<void> {
  await signal
  before?.()
  if (!json) console.error(`stopping: ${doing}… (again to quit at once)`)
  const now = (): void => {
    console.error('vms-node: stopped at once; the storage is safe: reopening it resumes')
    process.exit(130)
  }
  process.once('SIGINT', now)
  process.once('SIGTERM', now)
}

/**
 * paparam hands everything after the first rest argument to the rest,
 * flags included: take known flags back out of it.
 */
function restAndFlags(cmd: { rest: string[] | null; flags: Record<string, any> }, valued: string[], booleans: string[], multiple: string[] = []): string[] {
  const out: string[] = []
  const rest = cmd.rest ?? []
  // paparam names flags in camelCase (--allow-deploy → allowDeploy).
  const camel = (n: string) => n.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase())
  valued = valued.map(camel)
  booleans = booleans.map(camel)
  multiple = multiple.map(camel)
  for (const m of multiple) if (cmd.flags[m] !== undefined && !Array.isArray(cmd.flags[m])) cmd.flags[m] = [cmd.flags[m]]
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    // `--` ends the flags: what follows is arguments, `--view` or `-5` included.
    if (a === '--') { out.push(...rest.slice(i + 1)); break }
    const name = camel(a.replace(/^--/, ''))
    if (a.startsWith('--') && (multiple.includes(name) || valued.includes(name)) && i + 1 === rest.length) fail(`${a} needs a value (see vms-node <command> --help)`)
    if (a.startsWith('--') && multiple.includes(name) && i + 1 < rest.length) (cmd.flags[name] ??= []).push(rest[++i])
    else if (a.startsWith('--') && valued.includes(name) && i + 1 < rest.length) cmd.flags[name] = rest[++i]
    else if (a.startsWith('--') && booleans.includes(name)) cmd.flags[name] = true
    else out.push(a)
  }
  return out
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

/** A mirror's progress: blocks held while it catches up (stderr), and each time it holds all it knows of. */
function mirrorReporter(key: string, json: boolean, status: StatusLine, stall?: StallWatch): (p: MirrorProgress) => void {
  let last = ''
  return (p) => {
    stall?.progress(p)
    if (p.held) {
      const now = `${p.log.total}/${p.files.total}`
      if (now === last) return
      last = now
      if (json) console.log(JSON.stringify({ event: 'held', key, length: p.log.total, files: p.files.total, blobs: p.blobs.total }))
      else {
        status.clear()
        console.log(`held ${key.slice(0, 8)}…: entries 0–${p.log.total - 1}, files version ${p.files.total}`)
      }
    } else if (json) {
      console.log(JSON.stringify({ event: 'progress', key, log: p.log, files: p.files, blobs: p.blobs }))
    } else {
      status.update(`mirroring ${key.slice(0, 8)}…  log ${p.log.have}/${p.log.total}  files ${p.files.have}/${p.files.total}  contents ${p.blobs.have}/${p.blobs.total}`)
    }
  }
}

/**
 * How far a node's reopen got (`what`: "the VMs in DIR"): a status line, or
 * with `json` a `reopening` event at most once a second, and the last.
 */
function reopenProgress(what: string, json: boolean): { progress: (opened: number, total: number) => void; end: () => void } {
  const status = new StatusLine()
  let reported = 0
  return {
    progress(opened, total) {
      if (!json) return status.update(`reopening ${what}: ${opened.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`)
      if (opened < total && Date.now() - reported < 1000) return
      reported = Date.now()
      console.log(JSON.stringify({ event: 'reopening', opened, total }))
    },
    end: () => status.end()
  }
}

/** A mirror that stops getting blocks for this long says why it may be (checked every STALL_MS / 2). */
const STALL_MS = 10_000
/** Free space under which a stalled mirror blames the disk (RocksDB wants room for its log files). */
const LOW_DISK_BYTES = 64 * 1024 * 1024

interface StallWatch { progress(p: MirrorProgress): void; stop(): void }

/**
 * Watches a mirror that is catching up: when no block arrived for STALL_MS,
 * says so once, with the free space of the disk under `storage` (a full disk
 * stops a copy without an error anywhere else: RocksDB's writes fail inside
 * replication, and it takes none until reopened), and again when blocks flow
 * once more.
 */
function watchStall(key: string, storage: string, json: boolean, status: StatusLine): StallWatch {
  let have = -1
  let held = true
  let since = Date.now()
  let told = false
  const timer = setInterval(async () => {
    if (held || told || Date.now() - since < STALL_MS) return
    told = true
    const fs = await statfs(storage).catch(() => null)
    const free = fs ? fs.bavail * fs.bsize : null
    const seconds = Math.round((Date.now() - since) / 1000)
    if (json) return console.log(JSON.stringify({ event: 'stalled', key, seconds, diskFree: free }))
    status.clear()
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
    if (free !== null && free < LOW_DISK_BYTES) console.error(`vms-node: ${key.slice(0, 8)}…: no block stored for ${seconds} s, and the disk holding ${storage} has ${mb(free)} free: it is full: free some space, then start the mirror again (it resumes where it stopped)`)
    else console.error(`vms-node: ${key.slice(0, 8)}…: no block stored for ${seconds} s${free === null ? '' : ` (${mb(free)} free on the disk)`}: no peer is sending it; the mirror goes on when one does`)
  }, STALL_MS / 2)
  timer.unref()
  return {
    progress(p) {
      const now = p.log.have + p.files.have + p.blobs.have
      held = p.held
      if (now === have) return
      have = now
      since = Date.now()
      if (told && !p.held) {
        if (json) console.log(JSON.stringify({ event: 'flowing', key }))
        else { status.clear(); console.error(`vms-node: ${key.slice(0, 8)}…: blocks are arriving again`) }
      }
      told = false
    },
    stop() { clearInterval(timer) }
  }
}

/** The replay's progress line, with the rate since `start`. */
function replayProgress(status: StatusLine, start: number): (p: { index: number; total: number; calls: number }) => void {
  return ({ index, total, calls }) => {
    const pct = Math.floor((index / total) * 100)
    const rate = Math.round(calls / Math.max(0.001, (Date.now() - start) / 1000))
    status.update(`replaying ${total.toLocaleString('en-US')} entries  ${bar(pct)} ${pct}%  ${rate.toLocaleString('en-US')} calls/s`)
  }
}

/** A short-lived client node with its own temporary storage. */
async function withClient<T>(flags: { bootstrap?: string; local?: boolean; identity?: string; timeout?: string }, fn: (node: VmsNode, dht: DhtChoice) => Promise<T>, { signs = true } = {}): Promise<T> {
  const timeoutMs = wholeFlag(flags.timeout, '--timeout', 1, '15000') ?? 15000
  const dht = await chooseDht(flags)
  // Reading signs nothing: no identity is made for it.
  const identity = signs ? await loadIdentity(flags.identity, announceIdentity) : undefined
  const storage = await mkdtemp(join(tmpdir(), 'vms-client-'))
  const node = new VmsNode({ storage, bootstrap: dht.bootstrap, identity, timeoutMs })
  try {
    return await fn(node, dht)
  } finally {
    await node.close()
    await dht.local?.destroy()
    await rm(storage, { recursive: true, force: true })
  }
}

/** A caller identity made on first use: say where it is kept (its key is who the caller is). */
function announceIdentity(path: string, identity: { id: string }): void {
  process.stderr.write(`vms-node: made a new caller identity ${identity.id} in ${path} (keep it: the calls it signs are yours)\n`)
}

const identityFlag = flag('--identity <file>', 'caller identity file (default: $VMS_HOME/identity.json; made on first use)')
const timeoutFlag = flag('--timeout <ms>', 'give up after this long (default 15000)')
const clientFlags = [...net, identityFlag, timeoutFlag]
/** Commands that only read (files, info) sign nothing: no identity. */
const readerFlags = [...net, timeoutFlag]

const callCmd = command(
  'call',
  summary('Call a method of a VM by key; args are JSON values (a word that is not JSON is a string)'),
  arg('<key>', 'the VM key'),
  arg('<method>', 'the method'),
  rest('[...args]', 'arguments'),
  flag('--view', 'run it read-only (not logged; answered by the host or any mirror; writes fail)'),
  ...clientFlags,
  async () => {
    const args = restAndFlags(callCmd, ['bootstrap', 'identity', 'timeout'], ['local', 'json', 'view']).map((a: string) => { try { return JSON.parse(a) } catch { return a } })
    await withClient(callCmd.flags, async (node) => {
      const vm = await node.dial(callCmd.args.key!)
      if (callCmd.flags.view) {
        const { result, length } = await vm.view(callCmd.args.method!, ...args)
        if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, length }))
        else console.log((result === undefined ? '(no value)' : JSON.stringify(result, null, 2)) + `\n(view of the files after log entry ${length - 1})`)
        return
      }
      const { result, receipt } = await vm.callWithReceipt(callCmd.args.method!, ...args)
      if (callCmd.flags.json) console.log(JSON.stringify({ result: result ?? null, receipt: { index: receipt.index, length: signedLength(receipt), fork: receipt.fork, signer: formatKey(receipt.signer), signature: b4a.toString(receipt.signature, 'hex') } }))
      else console.log(result === undefined ? '(no value)' : JSON.stringify(result, null, 2))
    })
  }
)

const filesCmd = command(
  'files',
  summary('Read a VM\'s files archive: ls, cat or stat a path'),
  arg('<key>', 'the VM key'),
  arg('<op>', 'ls | cat | stat'),
  arg('[path]', 'the path (default /)'),
  ...readerFlags,
  async () => {
    const { key, op } = filesCmd.args
    const path = filesCmd.args.path || '/'
    if (!['ls', 'cat', 'stat'].includes(op!)) fail(`unknown files operation ${op}: use ls, cat or stat`)
    await withClient(filesCmd.flags, async (node) => {
      const vm = await node.dial(key!)
      const json = !!filesCmd.flags.json
      if (op === 'ls') {
        const names = await vm.files.readdir(path)
        if (names.length === 0) {
          // Nothing listed: an empty directory, or a path that is not one (say which).
          const st = await vm.files.stat(path)
          if (!st) fail(`${path} does not exist in this VM's archive (\`files ${key} ls /\` lists the top)`)
          if (st.isFile) fail(`${path} is a file, not a directory: read it with \`files ${key} cat ${path}\``)
        }
        if (json) for (const name of names) console.log(JSON.stringify({ name }))
        else console.log(names.join('\n'))
      } else if (op === 'cat') {
        const data = await vm.files.readFile(path) as Uint8Array
        if (json) console.log(JSON.stringify({ path, data: b4a.toString(data, 'utf8') }))
        else process.stdout.write(data)
      } else {
        const st = await vm.files.stat(path)
        if (!st) fail(`${path} does not exist in this VM's archive`)
        console.log(JSON.stringify({ path, ...st, mtime: st.mtime.toISOString() }))
      }
    }, { signs: false })
  }
)

const infoCmd = command(
  'info',
  summary('What a VM is: methods, files archive key, log length, trust mode'),
  arg('<key>', 'the VM key'),
  ...readerFlags,
  async () => {
    await withClient(infoCmd.flags, async (node) => {
      const vm = await node.dial(infoCmd.args.key!)
      const info = await vm.info()
      const out = { key: info.key, methods: info.methods, views: info.views, files: formatKey(info.filesKey), length: info.length, trust: info.trust, oracles: info.oracles, from: info.host ? 'host' : 'mirror' }
      if (infoCmd.flags.json) console.log(JSON.stringify(out))
      else console.log(`VM ${out.key}${info.host ? '' : ' (from a mirror: the host is not reachable)'}\n  methods  ${out.methods.join(', ')}${out.views.length ? '\n  views    ' + out.views.join(', ') + ' (read-only, never logged)' : ''}\n  files    ${out.files}\n  log      ${out.length} entries\n  trust    ${out.trust}${out.oracles.length ? ' (oracles: ' + out.oracles.join(', ') + ')' : ' (no oracles: every result can be replayed)'}`)
    }, { signs: false })
  }
)

const replCmd = command(
  'repl',
  summary('A Node REPL with a VM bound: its methods as async functions, `vm`, `files`'),
  arg('<key>', 'the VM key'),
  ...clientFlags,
  async () => {
    await withClient(replCmd.flags, async (node) => {
      const vm = await node.dial(replCmd.args.key!)
      const info = await vm.info()
      const { start } = await import('node:repl')
      console.log(`VM ${info.key} (${info.trust})\n  methods: ${info.methods.map((m) => m + '(…)').join(', ')}   also: vm, files, info()\n  calls are signed as ${node.identity.id}; .exit to leave`)
      // Work started at the prompt finishes before the node closes (piped input reaches .exit early).
      const pending = new Set<Promise<unknown>>()
      const track = <T>(p: Promise<T>): Promise<T> => { pending.add(p); p.finally(() => pending.delete(p)).catch(() => {}); return p }
      const files = vm.files
      const r = start({ prompt: 'vms> ' })
      for (const m of info.methods) r.context[m] = (...args: unknown[]) => track(vm.call(m, ...args))
      r.context.vm = vm
      r.context.files = {
        readdir: (p: string) => track(files.readdir(p)),
        readFile: (p: string, enc?: 'utf8') => track(files.readFile(p, enc)),
        stat: (p: string) => track(files.stat(p)),
        exists: (p: string) => track(files.exists(p))
      }
      r.context.info = () => track(vm.info())
      await new Promise<void>((resolve) => r.on('exit', () => resolve()))
      while (pending.size > 0) await Promise.allSettled([...pending])
    })
  }
)

const auditCmd = command(
  'audit',
  summary('Audit a VM over the swarm: replicate its log and files from the host or mirrors, replay every call'),
  description('Exits 0 when everything checked out, 1 on a divergence (named), 2 when the audit could not finish.'),
  arg('<key>', 'the VM key'),
  flag('--from <index>', 'start at this load entry (a checkpoint)'),
  flag('--to <index>', 'stop before this entry (audit a stretch; combine the reports with `vms-node combine`)'),
  flag('--follow', 'stay on and check each new call as it is logged (Ctrl-C to stop)'),
  flag('--report <file>', 'on a divergence, write evidence a third party can check with `vms-node verify-report`'),
  ...clientFlags,
  async () => {
    const json = !!auditCmd.flags.json
    const abort = new AbortController()
    if (auditCmd.flags.follow) {
      process.once('SIGINT', () => abort.abort())
      process.once('SIGTERM', () => abort.abort())
    }
    const from = wholeFlag(auditCmd.flags.from, '--from', 1, '1')
    const to = wholeFlag(auditCmd.flags.to, '--to', 2, '1000')
    await withClient(auditCmd.flags, async (node) => {
      const status = new StatusLine()
      const progress = replayProgress(status, Date.now())
      let replaying = false
      let following = false
      const report = await node.audit(auditCmd.args.key!, {
        from,
        to,
        report: auditCmd.flags.report || undefined,
        follow: auditCmd.flags.follow
          ? {
              signal: abort.signal,
              onVerified: (length) => {
                if (json) console.log(JSON.stringify({ event: 'verified', length }))
                else status.update(`verified up to entry ${length - 1}; following…`)
                following = true
              }
            }
          : undefined,
        onReplicate: json ? undefined : ({ phase, have, total }) => {
          if (replaying) return // blocks fetched in bulk arrive while the replay runs: its line says it all
          const pct = Math.floor((have / Math.max(1, total)) * 100)
          status.update(`replicating ${phase.padEnd(5)} ${bar(pct)} ${pct}%  ${have}/${total} blocks`)
        },
        // Once following, the line says how far it verified: a new call's replay is too short for a bar.
        onProgress: json ? undefined : (p) => { replaying = true; if (!following) progress(p) }
      }).finally(() => status.end())
      printReport(report, json)
    })
  }
)

const mirrorCmd = command(
  'mirror',
  summary('Keep full, live replicas of VMs and serve them to others (reads and audits work with the host away)'),
  description('Reopening the same --storage mirrors the same VMs again; `mirror --storage DIR` alone resumes.'),
  rest('[...keys]', 'VM keys'),
  flag('--storage <dir>', 'the node\'s storage directory (default: $VMS_HOME/mirror)'),
  flag('--timeout <ms>', 'how long each look for a VM\'s peers lasts before it is tried again (default 15000)'),
  ...net,
  async () => {
    const keys = restAndFlags(mirrorCmd, ['storage', 'bootstrap', 'timeout'], ['local', 'json'])
    const timeoutMs = wholeFlag(mirrorCmd.flags.timeout, '--timeout', 1, '15000')
    const json = !!mirrorCmd.flags.json
    const stopped = stopSignal()
    const storage = mirrorCmd.flags.storage || join(vmsHome(), 'mirror')
    const dht = await chooseDht(mirrorCmd.flags)
    const node = new VmsNode({ storage, bootstrap: dht.bootstrap, timeoutMs })
    await node.ready().catch((err: Error) => fail(err instanceof VmsError ? err.message : `cannot open ${storage}: ${err.message}`))
    const watching: Array<() => void> = []
    const status = new StatusLine()
    let stopping = false
    const start = async (m: Mirrored): Promise<void> => {
      const key = formatKey(m.key)
      status.clear()
      if (json) console.log(JSON.stringify({ event: 'mirroring', key }))
      else console.log(`vms-node mirroring ${key}`)
      const stall = watchStall(key, storage, json, status)
      const unwatch = await watchMirror(m, mirrorReporter(key, json, status, stall), json ? 1000 : 250)
      watching.push(() => { stall.stop(); unwatch() })
      // The first copy's bulk part: say how it went when it brought something or stopped short.
      m.filled.then(({ bulk, failure }) => {
        if (stopping) return // stopped short because it is closing: nothing to report
        if (json) return console.log(JSON.stringify({ event: 'filled', key, bulk, failure }))
        if (bulk === 0 && !failure) return
        status.clear()
        console.log(`copied ${key.slice(0, 8)}…: ${bulk.toLocaleString('en-US')} blocks in checked stretches` + (failure ? `; the bulk copy stopped (${failure}): replicating the rest block by block` : ''))
      }, () => {})
    }
    // A VM no peer serves yet (its host not up, say) is waited for: a volunteer's mirror runs for good.
    const acquire = async (k: Buffer): Promise<void> => {
      const key = formatKey(k)
      for (let tries = 1; !stopping; tries++) {
        try {
          const m = await node.mirror(k)
          if (!stopping) await start(m)
          return
        } catch (err) {
          if (stopping) return
          if ((err as VmsError).code !== 'HOST_OFFLINE') {
            status.clear()
            console.error(`vms-node: cannot mirror ${key}: ${(err as Error).message}`)
            return
          }
          if (json) console.log(JSON.stringify({ event: 'waiting', key, tries }))
          else status.update(`no peer has VM ${key.slice(0, 8)}… yet: waiting for its host or a mirror (tried ${tries} time${tries === 1 ? '' : 's'})`)
          await new Promise((resolve) => setTimeout(resolve, 1000))
        }
      }
    }
    try {
      const wanted = keys.map((k) => toKey(k))
      const reopening = reopenProgress(`the mirrors in ${storage}`, json)
      const mirrored = await node.mirrorStored({ onProgress: reopening.progress }).finally(reopening.end)
      const missing = wanted.filter((k) => !mirrored.some((m) => b4a.equals(m.key, k)))
      if (mirrored.length === 0 && missing.length === 0) throw new Error('nothing to mirror: give VM keys, or a --storage that mirrors some')
      for (const m of mirrored) await start(m)
      for (const k of missing) void acquire(k)
    } catch (err) {
      await node.close()
      fail((err as Error).message)
    }
    if (!json) console.log(`  on the ${dht.describe}; storage ${storage}; Ctrl-C to stop`)
    await untilStopped(stopped, json, 'leaving the DHT', () => { stopping = true; status.clear() })
    for (const stop of watching) stop()
    await node.close()
    await dht.local?.destroy()
    if (json) console.log(JSON.stringify({ event: 'stopped' }))
  }
)

const manageFlags = [...clientFlags, flag('--to <node>', 'the node\'s key (printed by `serve --allow-deploy`)')]

async function withNode<T>(cmd: { flags: Record<string, any> }, fn: (remote: Awaited<ReturnType<VmsNode['manage']>>) => Promise<T>): Promise<T> {
  if (!cmd.flags.to) fail('give the node with --to NODE_KEY')
  return withClient(cmd.flags, async (node) => {
    const remote = await node.manage(cmd.flags.to)
    return fn(remote)
  })
}

const deployCmd = command(
  'deploy',
  summary('Send a script to a node that allows you (serve --allow-deploy): it creates and hosts a new VM; prints its key'),
  arg('<script>', 'the service script'),
  ...manageFlags,
  async () => {
    const file = deployCmd.args.script!
    const script = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    await withNode(deployCmd, async (remote) => {
      const { key } = await remote.deploy(script, basename(file))
      if (deployCmd.flags.json) console.log(JSON.stringify({ key }))
      else console.log(key)
    })
  }
)

const lsCmd = command(
  'ls',
  summary('List the VMs a node hosts (you must be allowed to deploy there)'),
  ...manageFlags,
  async () => {
    await withNode(lsCmd, async (remote) => {
      const vms = await remote.ls()
      for (const v of vms) console.log(lsCmd.flags.json ? JSON.stringify(v) : `${v.key}  ${v.filename}  ${v.length} entries`)
    })
  }
)

const stopCmd = command(
  'stop',
  summary('Stop serving a VM on a node (its log and files stay); you must be allowed to deploy there'),
  arg('<key>', 'the VM key'),
  ...manageFlags,
  async () => {
    await withNode(stopCmd, async (remote) => {
      await remote.stop(stopCmd.args.key!)
      if (stopCmd.flags.json) console.log(JSON.stringify({ stopped: stopCmd.args.key }))
      else console.log(`stopped ${stopCmd.args.key}`)
    })
  }
)

const whoamiCmd = command(
  'whoami',
  summary('Print your caller id: the key your calls are signed with (System.caller.id in scripts)'),
  description('The identity is made on first use; --identity picks another file (one per caller, say alice.json and bob.json).'),
  identityFlag,
  flag('--json', 'machine-readable output'),
  async () => {
    const path = identityPath(whoamiCmd.flags.identity)
    const identity = await loadIdentity(whoamiCmd.flags.identity, announceIdentity)
    if (whoamiCmd.flags.json) console.log(JSON.stringify({ id: identity.id, file: path }))
    else console.log(identity.id)
  }
)

const testnetCmd = command(
  'testnet',
  summary('Run a DHT bootstrap node on loopback, for offline use'),
  flag('--port <port>', `UDP port (default ${LOCAL_PORT})`),
  flag('--json', 'machine-readable output'),
  async () => {
    const port = wholeFlag(testnetCmd.flags.port, '--port', 1, String(LOCAL_PORT), 65535) ?? LOCAL_PORT
    const stopped = stopSignal()
    const net = await createTestnet(3, { host: '127.0.0.1', port }).catch((err: Error) => fail(`cannot start a DHT on 127.0.0.1:${port}: ${err.message}`))
    const where = `127.0.0.1:${net.bootstrap[0]!.port}`
    if (testnetCmd.flags.json) console.log(JSON.stringify({ event: 'testnet', bootstrap: where }))
    else console.log(`DHT bootstrap on ${where}\n  use: --bootstrap ${where}   (or VMS_BOOTSTRAP=${where})`)
    await stopped
    await net.destroy()
  }
)


function stateToJson(s: FilesState | null): unknown {
  return s && { dbLength: s.dbLength, dbTreeHash: b4a.toString(s.dbTreeHash, 'hex'), blobsLength: s.blobsLength, blobsTreeHash: b4a.toString(s.blobsTreeHash, 'hex') }
}
function stateFromJson(s: any): FilesState | null {
  return s && { dbLength: s.dbLength, dbTreeHash: b4a.from(s.dbTreeHash, 'hex'), blobsLength: s.blobsLength, blobsTreeHash: b4a.from(s.blobsTreeHash, 'hex') }
}
function reportToJson(r: ReplayReport): unknown {
  return { ...r, start: stateToJson(r.start), files: stateToJson(r.files) }
}

const verifyReportCmd = command(
  'verify-report',
  summary('Check an audit report independently: "fraud proven" or "report invalid"'),
  description('Checks the host\'s signatures on the log and files in the report, rebuilds them, and replays the one stretch from its checkpoint.\nExits 0 when the fraud is proven, 1 when the report is invalid.'),
  arg('<file>', 'the report (from `vms-node audit --report FILE`)'),
  flag('--json', 'machine-readable output'),
  async () => {
    const file = verifyReportCmd.args.file!
    const text = await readText(file, 'utf8').catch(() => fail(`cannot read ${file}`))
    let evidence: Evidence
    try { evidence = JSON.parse(text) as Evidence } catch { return fail(`${file} is not a report (make one with vms-node audit --report FILE)`) }
    const tmp = await mkdtemp(join(tmpdir(), 'vms-verify-'))
    try {
      const verdict = await verifyEvidence(evidence, { tmpdir: tmp }).catch((err: Error) => ({ proven: false, reason: `report invalid: ${err.message}` }))
      if (verifyReportCmd.flags.json) console.log(JSON.stringify(verdict))
      else console.log(verdict.reason)
      process.exitCode = verdict.proven ? 0 : 1
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }
)

const combineCmd = command(
  'combine',
  summary('Combine the --json reports of stretches audited apart (several processes or machines) into one verdict'),
  description('The stretches must follow one another, each must have checked out, and each must start from the files state the one before it ended with.'),
  rest('[...files]', 'report files (one JSON report each, from `replay --json` or `audit --json`)'),
  flag('--json', 'print the combined report as one JSON object'),
  async () => {
    const files = restAndFlags(combineCmd, [], ['json'])
    if (files.length === 0) fail('give the report files to combine')
    const parts: ReplayReport[] = []
    for (const f of files) {
      const text = await readText(f, 'utf8').catch(() => fail(`cannot read ${f}`))
      let r: any
      try { r = JSON.parse(text.trim().split('\n').pop()!) } catch { fail(`${f} is not a JSON report (make it with --json)`) }
      parts.push({ ...r, start: stateFromJson(r.start), files: stateFromJson(r.files) })
    }
    const whole = (() => { try { return combineReports(parts) } catch (err) { return fail((err as Error).message) } })()
    if (combineCmd.flags.json) console.log(JSON.stringify({ ...(reportToJson(whole) as object), gap: whole.gap }))
    else if (whole.gap) console.log(`NOT COMBINED: ${whole.gap}`)
    else printReport(whole, false)
    process.exitCode = whole.gap ? 1 : whole.ok ? 0 : whole.divergence ? 1 : 2
  }
)

/** Print a replay report and set the exit code: 0 verified, 1 divergence, 2 could not finish. */
function printReport(report: ReplayReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(reportToJson(report)))
  } else if (report.ok) {
    const trust = report.oracles?.length ? `trusted: the outputs of oracles ${report.oracles.join(', ')} are the host's word` : 'trustless'
    const n = (x: number) => x.toLocaleString('en-US')
    const tree = report.files ? `, files tree ${b4a.toString(report.files.dbTreeHash, 'hex').slice(0, 8)}…` : ''
    console.log(`verified: entries ${n(report.from)}–${n(report.to - 1)}, ${n(report.calls)} call${report.calls === 1 ? '' : 's'}, ${n(report.loads)} load${report.loads === 1 ? '' : 's'}${tree} of VM ${report.vmKey} (${trust})${report.notes.length ? `\nnotes:\n  ${report.notes.join('\n  ')}` : ''}`)
  } else if (report.divergence) {
    const d = report.divergence
    console.log(`DIVERGENCE (${d.class}) ${d.message}\n  expected: ${d.expected}\n  found:    ${d.found}`)
  } else {
    console.log(`inconclusive: ${report.inconclusive}`)
  }
  process.exitCode = report.ok ? 0 : report.divergence ? 1 : 2
}

/**
 * Open a VM's storage for reading (it must hold a VM, and not be open
 * elsewhere), run `fn`, close. The storage is the VM's own directory
 * (`create`), or a node's (`serve --storage`, which keeps each VM in a
 * namespace named for it): `vm` names it, and may be left out when the node
 * holds one VM.
 */
async function withCores(storage: string, vm: string | undefined, fn: (cores: VmCores) => Promise<void>): Promise<void> {
  await checkStorageDir(storage, { existing: true }).catch((err: Error) => fail(err.message))
  const registry = await new NodeRegistry(storage).read().catch((err: Error) => fail(err.message))
  const names = registry.vms.map((v) => v.name)
  if (vm !== undefined && names.length === 0) fail(`${storage} is not a node's storage (no VMs listed in it): give the VM's own storage directory, without --vm`)
  let entry: { name: string; own?: boolean } = { name: '', own: true } // a VM's own storage: its VM is at the root
  if (names.length > 0) {
    if (vm === undefined && names.length > 1) fail(`${storage} is a node's storage with ${names.length} VMs (${names.join(', ')}): pick one with --vm NAME`)
    const name = vm ?? names[0]!
    if (!names.includes(name)) fail(`${storage} holds no VM named ${name} (it has: ${names.join(', ')})`)
    entry = registry.vms.find((v) => v.name === name)!
  }
  let store = new Corestore(storage)
  let opened = await store.ready().then(() => null, (err: Error) => err)
  if ((opened as { code?: string } | null)?.code === 'DEVICE_FILE') {
    // A copy (a backup, a storage sent to an auditor): hypercore appends to none, but reading one is safe.
    await store.close().catch(() => {})
    store = new Corestore(storage, { readOnly: true })
    opened = await store.ready().then(() => null, (err: Error) => err)
    if (!opened) console.error(`vms-node: ${storage} is a copy of a storage: read it read-only`)
  }
  if (opened) {
    await store.close().catch(() => {})
    fail(storageOpenError(storage, opened).message)
  }
  const cores = await openVmCores(vmStore(store, entry), { existing: true }).catch(async (err) => {
    await store.close()
    return fail(err instanceof VmsError ? err.message : `cannot open ${storage}: ${err.message}`)
  })
  try {
    await fn(cores)
  } finally {
    await closeVmCores(cores)
    await store.close()
  }
}

function bar(pct: number): string {
  const n = Math.round(pct / 5)
  return '█'.repeat(n) + '░'.repeat(20 - n)
}

/**
 * The exit status of a command that fails, bad arguments included: 1, but 2
 * ("could not finish") for replay and audit, whose 1 says "a divergence".
 */
const failureExit = ['replay', 'audit'].includes(process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '') ? 2 : 1

function fail(message: string): never {
  console.error(`vms-node: ${message}`)
  process.exit(failureExit)
}

// Output piped into a command that stops reading (`vms-node log DIR | head`): stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); else throw err })

process.on('unhandledRejection', (err) => {
  console.error(`vms-node: ${err instanceof VmsError ? err.message : (err as Error)?.stack ?? err}`)
  process.exit(failureExit)
})

const cli = command('vms-node', summary('Auditable services: a sandboxed script, a signed call log, a files archive, replay'), bail(onBail),
  flag('--version|-v', 'print the version'),
  serveCmd, callCmd, filesCmd, infoCmd, replCmd, auditCmd, verifyReportCmd, mirrorCmd, deployCmd, lsCmd, stopCmd, whoamiCmd, testnetCmd, createCmd, logCmd, replayCmd, combineCmd,
  // No command: the version if asked, else what there is to do.
  async () => {
    if (cli.flags.version) {
      const pkg = JSON.parse(await readText(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
      console.log(`vms-node ${pkg.version}`)
    } else {
      console.log(cli.help())
    }
  })

/** Every command's failures end here: an error a command threw, or bad arguments (paparam's bail). */
function onBail(b: { reason: string; flag?: { name: string } | null; arg?: { value: string } | null; err?: unknown }): never {
  if (b.err) fail((b.err as Error)?.message ?? String(b.err))
  // A flag that takes a value, given none (`--from` last, or `--from -3`: "-3" reads as a flag).
  if (b.reason === 'INVALID_FLAG' && b.flag) {
    const name = '--' + b.flag.name.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())
    fail(`${name} needs a value (one starting with "-" reads as a flag: write ${name}=VALUE; see vms-node <command> --help)`)
  }
  const what = b.flag ? `${b.reason}: ${b.flag.name}` : b.arg ? `${b.reason}: ${b.arg.value}` : b.reason
  fail(`${what.replace(/^[A-Z_]+: /, (m) => m.toLowerCase().replace(/_/g, ' '))} (see vms-node <command> --help)`)
}

cli.parse()

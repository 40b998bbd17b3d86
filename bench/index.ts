/**
 * Benchmarks (not tests). `npm run bench` prints a table; `--json` prints one
 * JSON object per line: {"name", "value", "unit", "runs", "warmup"?, "node"}; names
 * after the flags pick benchmarks by the figures they give. Each figure is the
 * median of several runs (after a warm-up run, where `warmup` gives its figure). Everything runs locally: no network. When several benchmarks
 * are chosen, each runs in a process of its own.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync, readdirSync } from 'node:fs'
import { tmpdir, availableParallelism } from 'node:os'
import { join } from 'node:path'
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import createTestnet from 'hyperdht/testnet.js'
import Hyperswarm from 'hyperswarm'
import ProtomuxRPC from 'protomux-rpc'
import crypto from 'hypercore-crypto'
import { VmHost, VmsNode, Identity, replay, formatKey, type SignedCall } from '../src/index.js'

const VOLUNTEER = fileURLToPath(new URL('./volunteer.js', import.meta.url))

const RSVP = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (isAttending, reason = '') => {
  await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ isAttending, reason }))
}`

interface Figure { name: string; value: number; unit: string }

/** Sizes of the larger benchmarks (environment overrides for quick runs). */
const AUDIT_CALLS = Number(process.env.VMS_BENCH_AUDIT_CALLS || 100000)
const MANY_VMS = Number(process.env.VMS_BENCH_VMS || 1000)
/** Files in the directory of the big-directory wake (VMS_BENCH_BIG_DIR). */
const BIG_DIR = Number(process.env.VMS_BENCH_BIG_DIR || 20000)
/** New callers an RSVP host has answered when its throughput is measured (VMS_BENCH_GROWN). */
const GROWN = Number(process.env.VMS_BENCH_GROWN || 100000)
/**
 * `warmup`: one run first whose figures are reported apart (`warmup` in the
 * JSON) and left out of the median. A service runs for hours; a cold process
 * spends the first ~10,000 calls compiling its own code (V8's optimising
 * compiler on the other threads took ~100 µs of CPU per call then, a quarter
 * of a swarm call's CPU), which is not the throughput it serves at.
 */
interface Bench { name: string; figures: string[]; runs: number; warmup?: boolean; run(): Promise<Figure[]> }

async function withHost<T>(fn: (host: VmHost, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vms-bench-'))
  const host = await VmHost.create(dir, { script: RSVP })
  try {
    return await fn(host, dir)
  } finally {
    await host.close()
    await rm(dir, { recursive: true, force: true })
  }
}

/** Signed calls prepared ahead (callers sign on their own machines); `pinned`: made for this script version. */
function signCalls(key: Uint8Array, n: number, pinned?: Uint8Array): SignedCall[] {
  const ids = Array.from({ length: 256 }, () => Identity.generate())
  return Array.from({ length: n }, (_, i) => ids[i % ids.length]!.sign(key, 'RSVP', [i % 2 === 0, 'reason ' + i], pinned ? { scriptHash: pinned } : {}))
}

/** Keep `inflight` calls outstanding until all are answered; returns calls/s. */
async function drive(host: VmHost, calls: SignedCall[], inflight: number): Promise<number> {
  let next = 0
  const start = performance.now()
  async function worker(): Promise<void> {
    while (next < calls.length) await host.call(calls[next++]!)
  }
  await Promise.all(Array.from({ length: inflight }, worker))
  return calls.length / ((performance.now() - start) / 1000)
}

const benches: Bench[] = [
  {
    name: 'host throughput',
    figures: ['host_calls_per_s'],
    runs: 5,
    warmup: true,
    run: () => withHost(async (host) => {
      await drive(host, signCalls(host.key, 1000), 64) // warm up
      const value = await drive(host, signCalls(host.key, 10000), 64)
      return [{ name: 'host_calls_per_s', value: Math.round(value), unit: 'calls/s' }]
    })
  },
  {
    // The same, each call signed for the script version in force (what dial() sends): the check must cost nothing measurable.
    name: 'host throughput, pinned calls',
    figures: ['host_calls_per_s_pinned'],
    runs: 5,
    warmup: true,
    run: () => withHost(async (host) => {
      await drive(host, signCalls(host.key, 1000, host.script.hash), 64)
      const value = await drive(host, signCalls(host.key, 10000, host.script.hash), 64)
      return [{ name: 'host_calls_per_s_pinned', value: Math.round(value), unit: 'calls/s' }]
    })
  },
  {
    name: 'host latency',
    figures: ['host_call_p50_ms'],
    runs: 5,
    warmup: true,
    run: () => withHost(async (host) => {
      const calls = signCalls(host.key, 1200)
      const times: number[] = []
      for (let i = 0; i < calls.length; i++) {
        const t = performance.now()
        await host.call(calls[i]!)
        if (i >= 200) times.push(performance.now() - t)
      }
      return [{ name: 'host_call_p50_ms', value: round3(median(times)), unit: 'ms' }]
    })
  },
  {
    name: 'replay',
    figures: ['replay_calls_per_s'],
    runs: 3,
    warmup: true,
    run: () => withHost(async (host) => {
      await drive(host, signCalls(host.key, 20000), 64)
      const start = performance.now()
      const report = await replay(host.logAndFiles())
      const secs = (performance.now() - start) / 1000
      if (!report.ok) throw new Error('replay of an honest log failed: ' + JSON.stringify(report.divergence ?? report.inconclusive))
      return [{ name: 'replay_calls_per_s', value: Math.round(report.calls / secs), unit: 'calls/s' }]
    })
  },
  {
    name: 'audit and mirror over the swarm',
    figures: ['audit_swarm_calls_per_s', 'mirror_sync_entries_per_s'],
    runs: 1,
    run: auditSwarmBench
  },
  {
    name: 'many VMs per node',
    figures: [`rss_mb_${MANY_VMS}_vms`, 'wake_ms', `reopen_ms_${MANY_VMS}_vms`, `rss_mb_${MANY_VMS}_vms_reopened`],
    runs: 1,
    run: manyVmsBench
  },
  {
    name: 'wake of a VM with a big directory',
    figures: [`wake_ms_${BIG_DIR}_files`],
    runs: 1,
    run: bigDirWakeBench
  },
  {
    name: 'host throughput as its directory grows',
    figures: [`host_calls_per_s_${GROWN}_files`],
    runs: 1,
    run: grownHostBench
  },
  {
    name: 'following audit lag',
    figures: ['audit_follow_lag_p50_ms', 'audit_follow_lag_p99_ms'],
    runs: 3,
    run: followLagBench
  },
  {
    name: 'upgrade',
    figures: ['upgrade_ms', 'upgrade_cli_ms'],
    runs: 5,
    run: upgradeBench
  },
  {
    name: 'gateway',
    figures: ['gateway_call_p50_ms', 'gateway_calls_per_s'],
    runs: 3,
    warmup: true,
    run: gatewayBench
  },
  {
    name: 'swarm',
    figures: ['rpc_raw_calls_per_s', 'swarm_calls_per_s', 'swarm_to_raw_ratio', 'swarm_call_p50_ms', 'dial_ms'],
    runs: 3,
    warmup: true,
    run: swarmBench
  }
]

/** A loopback testnet and temporary storage for one benchmark run, removed after it. */
async function withTestnet<T>(fn: (net: Awaited<ReturnType<typeof createTestnet>>, tmp: () => Promise<string>) => Promise<T>): Promise<T> {
  const net = await createTestnet(3)
  const dirs: string[] = []
  const tmp = async () => { const d = await mkdtemp(join(tmpdir(), 'vms-bench-')); dirs.push(d); return d }
  try {
    return await fn(net, tmp)
  } finally {
    await net.destroy()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  }
}

/** Keep `inflight` requests outstanding until `n` are done; returns per second. */
async function saturate(n: number, inflight: number, fn: () => Promise<unknown>): Promise<number> {
  let next = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: inflight }, async () => { while (next++ < n) await fn() }))
  return n / ((performance.now() - start) / 1000)
}

/** Everything on one loopback testnet, in this process: a raw RPC echo pair, and a host node with a VM. */
async function swarmBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    // Raw protomux-rpc echo over the same kind of swarm connection.
    const a = new Hyperswarm({ dht: net.createNode() })
    const b = new Hyperswarm({ dht: net.createNode() })
    const topic = crypto.randomBytes(32)
    a.on('connection', (conn: unknown) => { const rpc = new ProtomuxRPC(conn); rpc.respond('echo', (req) => req) })
    const client = new Promise<ProtomuxRPC>((resolve) => b.on('connection', (conn: unknown) => resolve(new ProtomuxRPC(conn))))
    await a.join(topic, { server: true, client: false }).flushed()
    b.join(topic, { server: false, client: true })
    const rpc = await client
    const payload = Buffer.alloc(120, 1)
    await saturate(2000, 64, () => rpc.request('echo', payload))
    const raw = await saturate(20000, 64, () => rpc.request('echo', payload))
    await a.destroy()
    await b.destroy()

    const hostNode = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const vm = await hostNode.host(RSVP, { name: 'rsvp' })
    const dials: number[] = []
    for (let i = 0; i < 5; i++) {
      const fresh = new VmsNode({ storage: await tmp(), dht: net.createNode() })
      const t = performance.now()
      const h = await fresh.dial(vm.key)
      await h.call('RSVP', true, 'dial')
      dials.push(performance.now() - t)
      await fresh.close()
    }
    const caller = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const handle = await caller.dial(vm.key)
    await saturate(500, 64, () => handle.call('RSVP', true, 'warm'))
    const calls = await saturate(5000, 64, () => handle.call('RSVP', true, 'bench'))
    const times: number[] = []
    for (let i = 0; i < 500; i++) {
      const t = performance.now()
      await handle.call('RSVP', i % 2 === 0, 'latency')
      times.push(performance.now() - t)
    }
    await caller.close()
    await hostNode.close()
    return [
      { name: 'rpc_raw_calls_per_s', value: Math.round(raw), unit: 'calls/s' },
      { name: 'swarm_calls_per_s', value: Math.round(calls), unit: 'calls/s' },
      { name: 'swarm_to_raw_ratio', value: Math.round((calls / raw) * 1000) / 1000, unit: 'ratio' },
      { name: 'swarm_call_p50_ms', value: round3(median(times)), unit: 'ms' },
      { name: 'dial_ms', value: round3(median(dials)), unit: 'ms' }
    ]
  })
}

/**
 * A page in Chromium calling a VM through a gateway, on a loopback testnet:
 * signed in the page (WebCrypto), relayed, logged, the receipt checked in the
 * page. `gateway_call_p50_ms` one call at a time; `gateway_calls_per_s` with
 * 64 in flight from one page.
 */
async function gatewayBench(): Promise<Figure[]> {
  const { chromium } = await import('playwright-core')
  const { Gateway } = await import('../src/gateway/gateway.js')
  return withTestnet(async (net, tmp) => {
    const hostNode = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const vm = await hostNode.host(RSVP, { name: 'rsvp' })
    const gatewayNode = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const gateway = new Gateway(gatewayNode, { port: 0 })
    await gateway.ready()
    const browser = await chromium.launch({ executablePath: process.env.VMS_CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] })
    try {
      const page = await browser.newPage()
      await page.goto(gateway.url + '/')
      const out = await page.evaluate(async (key: string) => {
        const { connect } = await import('/browser.js' as string)
        const vm = await (await connect()).dial(key)
        for (let i = 0; i < 200; i++) await vm.RSVP(true, 'warm')
        const times: number[] = []
        for (let i = 0; i < 500; i++) {
          const t = performance.now()
          await vm.RSVP(i % 2 === 0, 'latency')
          times.push(performance.now() - t)
        }
        times.sort((a, b) => a - b)
        let next = 0
        const n = 3000
        const start = performance.now()
        await Promise.all(Array.from({ length: 64 }, async () => { while (next++ < n) await vm.RSVP(true, 'throughput') }))
        return { p50: times[times.length >> 1]!, perSecond: n / ((performance.now() - start) / 1000) }
      }, formatKey(vm.key))
      return [
        { name: 'gateway_call_p50_ms', value: round3(out.p50), unit: 'ms' },
        { name: 'gateway_calls_per_s', value: Math.round(out.perSecond), unit: 'calls/s' }
      ]
    } finally {
      await browser.close()
      await gateway.close()
      await gatewayNode.close()
      await hostNode.close()
    }
  })
}

/**
 * An upgrade over a loopback testnet, of a VM that answered 1,000 calls of 256 callers:
 * `upgrade_ms` from the owner's request (its handle already dialled) to the
 * first answered call of a method only the new version has; `upgrade_cli_ms`
 * the whole `vms-node upgrade` command (a process that starts, finds the VM
 * on the DHT, signs and waits), for scale.
 */
async function upgradeBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    const owner = Identity.generate()
    const hostNode = new VmsNode({ storage: await tmp(), dht: net.createNode(), identity: owner })
    const vm = await hostNode.host(RSVP, { name: 'rsvp' })
    await drive(vm, signCalls(vm.key, 1000), 64)
    const ownerNode = new VmsNode({ storage: await tmp(), dht: net.createNode(), identity: owner })
    const handle = await ownerNode.dial(vm.key)
    const v2 = RSVP + '\nexports.count = async () => (await System.files.readdir(\'/rsvps\')).length\nexports.migrate = async (from) => { await System.files.writeFile(\'/migrated\', String(from)) }\n'
    const t = performance.now()
    await handle.upgrade(v2)
    const count = await handle.call('count')
    const upgradeMs = performance.now() - t
    if (count !== 256) throw new Error(`the new method answered ${String(count)}, not 256 (the callers)`)
    await ownerNode.close()
    // The command line: its own process, its own DHT lookup.
    const home = await tmp()
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(home, 'identity.json'), JSON.stringify({ seed: Buffer.from(owner.secretKey.subarray(0, 32)).toString('hex') }))
    const v3 = join(home, 'v3.js')
    await writeFile(v3, v2 + '\nexports.closed = () => true\n')
    const bin = fileURLToPath(new URL('../../bin/vms-node.js', import.meta.url))
    const c = performance.now()
    // Not execFileSync: the host runs in this process, and must answer meanwhile.
    const { promisify } = await import('node:util')
    const { execFile } = await import('node:child_process')
    await promisify(execFile)(process.execPath, [bin, 'upgrade', formatKey(vm.key), v3], { env: { ...process.env, VMS_HOME: home, VMS_BOOTSTRAP: `127.0.0.1:${net.bootstrap[0]!.port}` } })
    const cliMs = performance.now() - c
    if (vm.script.version !== 3) throw new Error('the command line upgrade did not take')
    await hostNode.close()
    return [
      { name: 'upgrade_ms', value: round3(upgradeMs), unit: 'ms' },
      { name: 'upgrade_cli_ms', value: round3(cliMs), unit: 'ms' }
    ]
  })
}

/**
 * A host with a long log on a loopback testnet; fresh volunteers audit it over
 * the swarm, then fresh mirrors copy all of it, each in a process of its own
 * (as on its own machine: the host's uploads and the volunteer's work do not
 * share one thread).
 */
async function auditSwarmBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    const hostNode = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const vm = await hostNode.host(RSVP, { name: 'rsvp', maxQueue: 4096 })
    await drive(vm, signCalls(vm.key, AUDIT_CALLS), 256)
    const volunteer = (...job: string[]) => runVolunteer(net.bootstrap[0]!.port, formatKey(vm.key), ...job)
    const rates: number[] = []
    for (let r = 0; r < 3; r++) {
      const result = await volunteer('audit') as { ok: boolean; calls: number; secs: number; fetched: { bulk: number; fallback: string | null } | null; problem: unknown }
      if (!result.ok) throw new Error('audit of an honest host failed: ' + JSON.stringify(result.problem))
      if (!result.fetched || result.fetched.fallback) throw new Error('the volunteer fell back to block-by-block replication: ' + JSON.stringify(result.fetched))
      rates.push(result.calls / result.secs)
    }
    const mirrorRates: number[] = []
    for (let r = 0; r < 3; r++) {
      const result = await volunteer('mirror', String(vm.log.length)) as { entries: number; secs: number }
      mirrorRates.push(result.entries / result.secs)
    }
    await hostNode.close()
    return [
      { name: 'audit_swarm_calls_per_s', value: Math.round(median(rates)), unit: 'calls/s' },
      { name: 'mirror_sync_entries_per_s', value: Math.round(median(mirrorRates)), unit: 'entries/s' }
    ]
  })
}

/** bench/volunteer.js in a process of its own; its JSON line. */
function runVolunteer(port: number, key: string, ...job: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VOLUNTEER, String(port), key, ...job], { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d) => { text += d })
    child.on('error', reject)
    child.on('exit', (code) => code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop()!)) : reject(new Error(`the volunteer process (${job.join(' ')}) exited with ${code}`)))
  })
}

/** A host under steady load; how far behind its log's head a following volunteer stays. */
async function followLagBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    const hostNode = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const vm = await hostNode.host(RSVP, { name: 'rsvp' })
    const appendedAt = new Map<number, number>()
    vm.log.on('append', () => { const now = performance.now(); for (let i = appendedAt.size; i < vm.log.length; i++) appendedAt.set(i + 1, now) })
    const volunteer = new VmsNode({ storage: await tmp(), dht: net.createNode() })
    const abort = new AbortController()
    const lags: number[] = []
    const following = volunteer.audit(vm.key, {
      attest: false,
      follow: {
        signal: abort.signal,
        onVerified: (length) => { const at = appendedAt.get(length); if (at !== undefined) lags.push(performance.now() - at) }
      }
  })
  // Steady load: 500 calls/s for 6 s, 8 at a time.
  const calls = signCalls(vm.key, 3000)
  const start = performance.now()
  for (let i = 0; i < calls.length; i += 8) {
    await Promise.all(calls.slice(i, i + 8).map((c) => vm.call(c)))
    const due = start + (i + 8) * 2
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  }
  await new Promise((r) => setTimeout(r, 500))
  abort.abort()
  await following
  await volunteer.close()
  await hostNode.close()
  const sorted = lags.sort((a, b) => a - b)
  return [
    { name: 'audit_follow_lag_p50_ms', value: round3(sorted[Math.floor(sorted.length * 0.5)] ?? NaN), unit: 'ms' },
    { name: 'audit_follow_lag_p99_ms', value: round3(sorted[Math.floor(sorted.length * 0.99)] ?? NaN), unit: 'ms' }
  ]
  })
}

/** Many VMs on one node: each created, called once and unloaded; the node's memory, and a wake's latency. */
async function manyVmsBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    const storage = await tmp()
    const node = new VmsNode({ storage, dht: net.createNode(), idleMs: 0 })
    const caller = Identity.generate()
    const hosts = []
    const idle = async (h: { unload(): Promise<boolean> }) => { while (!(await h.unload())) await new Promise((r) => setTimeout(r, 2)) }
    for (let i = 0; i < MANY_VMS; i++) {
      const h = await node.host(RSVP, { name: 'vm' + i })
      await h.call(caller.sign(h.key, 'RSVP', [true, 'once']))
      await idle(h)
      hosts.push(h)
    }
    const rss = treeRssMb()
    const wakes: number[] = []
    for (let i = 0; i < Math.min(25, hosts.length); i++) {
      const h = hosts[i]!
      await new Promise((r) => setTimeout(r, 200)) // wakes come apart: the node's spare sandbox is warm again
      const t = performance.now()
      await h.call(caller.sign(h.key, 'RSVP', [false, 'woken']))
      wakes.push(performance.now() - t)
      await idle(h)
    }
    await node.close()
    // The node restarts: every VM reopens unloaded, and the first call to one loads it.
    const again = new VmsNode({ storage, dht: net.createNode(), idleMs: 0 })
    const start = performance.now()
    const reopened = await again.hostStored()
    const reopen = performance.now() - start
    if (reopened.length !== MANY_VMS) throw new Error(`reopened ${reopened.length} of ${MANY_VMS} VMs`)
    const rssReopened = treeRssMb()
    await again.close()
    return [
      { name: `rss_mb_${MANY_VMS}_vms`, value: Math.round(rss), unit: 'MB' },
      { name: 'wake_ms', value: round3(median(wakes)), unit: 'ms' },
      { name: `reopen_ms_${MANY_VMS}_vms`, value: Math.round(reopen), unit: 'ms' },
      { name: `rss_mb_${MANY_VMS}_vms_reopened`, value: Math.round(rssReopened), unit: 'MB' }
    ]
  })
}



/**
 * An RSVP VM holding BIG_DIR answers (one file each in /rsvps), unloaded; a
 * new caller's call wakes it: init's mkdir and the call's write each look up a
 * path in a big directory (they listed it whole, once per load).
 */
async function bigDirWakeBench(): Promise<Figure[]> {
  return withTestnet(async (net, tmp) => {
    const node = new VmsNode({ storage: await tmp(), dht: net.createNode(), idleMs: 0 })
    const h = await node.host(RSVP, { name: 'rsvp', maxQueue: 4096 })
    const callers = Array.from({ length: BIG_DIR }, () => Identity.generate())
    let next = 0
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < callers.length) { const c = callers[next++]!; await h.call(c.sign(h.key, 'RSVP', [true, 'one of many'])) }
    }))
    const idle = async () => { while (!(await h.unload())) await new Promise((r) => setTimeout(r, 2)) }
    const wakes: number[] = []
    for (let i = 0; i < 5; i++) {
      await idle()
      await new Promise((r) => setTimeout(r, 200)) // the node's spare sandbox is warm again
      const newcomer = Identity.generate()
      const t = performance.now()
      await h.call(newcomer.sign(h.key, 'RSVP', [true, 'woke it']))
      wakes.push(performance.now() - t)
    }
    await node.close()
    return [{ name: `wake_ms_${BIG_DIR}_files`, value: round3(median(wakes)), unit: 'ms' }]
  })
}

/**
 * An RSVP host answering new callers only (each call a new file in /rsvps),
 * 64 in flight: calls/s over the last 10,000 of GROWN (each caller signs on
 * their own machine: the calls are signed before they are timed).
 */
async function grownHostBench(): Promise<Figure[]> {
  return withHost(async (host) => {
    const chunk = 10000
    let rate = 0
    for (let done = 0; done < GROWN; done += chunk) {
      const calls = Array.from({ length: Math.min(chunk, GROWN - done) }, (_, i) => Identity.generate().sign(host.key, 'RSVP', [i % 2 === 0, 'new caller']))
      rate = await drive(host, calls, 64)
    }
    return [{ name: `host_calls_per_s_${GROWN}_files`, value: Math.round(rate), unit: 'calls/s' }]
  })
}

/** Resident memory of this process and its children (the sandbox processes), in MB (Linux /proc). */
function treeRssMb(): number {
  const page = 4096
  const resident = (pid: string) => Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * page
  let bytes = resident('self')
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) bytes += resident(pid)
    } catch {}
  }
  return bytes / 1024 / 1024
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
function round3(x: number): number { return Math.round(x * 1000) / 1000 }

const args = process.argv.slice(2)
const json = args.includes('--json')
const names = args.filter((a) => !a.startsWith('--'))
const chosen = benches.filter((b) => names.length === 0 || b.figures.some((f) => names.includes(f)))
if (chosen.length === 0) {
  console.error(`no benchmark gives ${names.join(', ')}; known figures: ${benches.flatMap((b) => b.figures).join(', ')}`)
  process.exit(1)
}

interface Printed { name: string; value: number; unit: string; runs: number[]; warmup?: number; node?: string }

/** Figures depend on the Node (its V8, its isolated-vm build): each carries the version it was measured under. */
function print(f: Printed): void {
  if (json) console.log(JSON.stringify({ ...f, node: f.node ?? process.versions.node }))
  else console.log(`${f.name.padEnd(24)} ${String(f.value).padStart(10)} ${f.unit}   (median of ${f.runs.length}: ${f.runs.join(', ')}${f.warmup === undefined ? '' : `; warm-up run: ${f.warmup}`})`)
}

if (!json) console.log(`Node ${process.versions.node} (${process.platform}-${process.arch}, ${availableParallelism()} cores)`)
if (chosen.length > 1) {
  // Each benchmark in a process of its own: the memory and caches one leaves behind do not weigh on the next.
  for (const b of chosen) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--json', ...b.figures], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue
      const f = JSON.parse(line) as Printed
      if (names.length === 0 || names.includes(f.name)) print(f)
    }
  }
} else {
  for (const b of chosen) {
    const samples = new Map<string, { unit: string; values: number[]; warmup?: number }>()
    const warm = new Map<string, number>()
    if (b.warmup) for (const f of await b.run()) warm.set(f.name, f.value)
    for (let r = 0; r < b.runs; r++) {
      for (const f of await b.run()) {
        const s = samples.get(f.name) ?? { unit: f.unit, values: [] }
        s.values.push(f.value)
        samples.set(f.name, s)
      }
    }
    for (const [name, s] of samples) {
      if (names.length > 0 && !names.includes(name)) continue
      print({ name, value: median(s.values), unit: s.unit, runs: s.values, ...(warm.has(name) ? { warmup: warm.get(name)! } : {}) })
    }
  }
}

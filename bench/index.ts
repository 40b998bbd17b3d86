/**
 * Benchmarks (not tests). `npm run bench` prints a table; `--json` prints one
 * JSON object per line: {"name", "value", "unit", "runs"}; names after the
 * flags pick benchmarks by the figures they give. Each figure is the median of
 * several runs. Everything runs locally: no network.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmHost, Identity, replay, type SignedCall } from '../src/index.js'

const RSVP = `
exports.init = async () => { await System.files.mkdir('/rsvps') }
exports.RSVP = async (isAttending, reason = '') => {
  await System.files.writeFile('/rsvps/' + System.caller.id + '.json', JSON.stringify({ isAttending, reason }))
}`

interface Figure { name: string; value: number; unit: string }
interface Bench { name: string; figures: string[]; runs: number; run(): Promise<Figure[]> }

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

/** Signed calls prepared ahead (callers sign on their own machines). */
function signCalls(key: Uint8Array, n: number): SignedCall[] {
  const ids = Array.from({ length: 256 }, () => Identity.generate())
  return Array.from({ length: n }, (_, i) => ids[i % ids.length]!.sign(key, 'RSVP', [i % 2 === 0, 'reason ' + i]))
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
    run: () => withHost(async (host) => {
      await drive(host, signCalls(host.key, 1000), 64) // warm up
      const value = await drive(host, signCalls(host.key, 10000), 64)
      return [{ name: 'host_calls_per_s', value: Math.round(value), unit: 'calls/s' }]
    })
  },
  {
    name: 'host latency',
    figures: ['host_call_p50_ms'],
    runs: 5,
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
    run: () => withHost(async (host) => {
      await drive(host, signCalls(host.key, 20000), 64)
      const start = performance.now()
      const report = await replay(host.logAndFiles())
      const secs = (performance.now() - start) / 1000
      if (!report.ok) throw new Error('replay of an honest log failed: ' + JSON.stringify(report.divergence ?? report.inconclusive))
      return [{ name: 'replay_calls_per_s', value: Math.round(report.calls / secs), unit: 'calls/s' }]
    })
  }
]

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

for (const b of chosen) {
  const samples = new Map<string, { unit: string; values: number[] }>()
  for (let r = 0; r < b.runs; r++) {
    for (const f of await b.run()) {
      const s = samples.get(f.name) ?? { unit: f.unit, values: [] }
      s.values.push(f.value)
      samples.set(f.name, s)
    }
  }
  for (const [name, s] of samples) {
    if (names.length > 0 && !names.includes(name)) continue
    const value = median(s.values)
    if (json) console.log(JSON.stringify({ name, value, unit: s.unit, runs: s.values }))
    else console.log(`${name.padEnd(24)} ${String(value).padStart(10)} ${s.unit}   (median of ${s.values.length}: ${s.values.join(', ')})`)
  }
}

/**
 * A volunteer in a process of its own (as it would be on its own machine):
 * joins the loopback DHT at the bootstrap given and prints one JSON line.
 * Arguments: bootstrap port, VM key, then the job:
 * - `audit` (default): audits the VM; prints {"ok", "calls", "secs", "fetched", "problem"};
 * - `mirror LENGTH`: mirrors the VM from scratch until it holds every block of
 *   its log (LENGTH entries), files and contents; prints {"ok", "entries", "blocks", "secs"}.
 * Storage is a fresh temporary directory, removed after. Used by bench/index.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmsNode, watchMirror, type MirrorProgress } from '../src/index.js'

const [port, key, job = 'audit', length = '0'] = process.argv.slice(2) as [string, string, string?, string?]
const storage = await mkdtemp(join(tmpdir(), 'vms-volunteer-'))
// As the CLI joins a loopback DHT: an ephemeral node on the bootstrap given.
const node = new VmsNode({ storage, bootstrap: [{ host: '127.0.0.1', port: Number(port) }], timeoutMs: 60000 })
const start = performance.now()
let out: unknown
if (job === 'mirror') {
  const m = await node.mirror(key)
  const held = await new Promise<MirrorProgress>((resolve) => {
    const stop = watchMirror(m, (p) => {
      if (p.held && p.log.total >= Number(length)) stop.then((s) => s()).catch(() => {}).finally(() => resolve(p))
    }, 100)
  })
  const secs = (performance.now() - start) / 1000
  out = { ok: true, entries: held.log.total, blocks: held.log.total + held.files.total + held.blobs.total, secs }
} else {
  const report = await node.audit(key)
  const secs = (performance.now() - start) / 1000
  out = { ok: report.ok, calls: report.calls, secs, fetched: report.fetched ?? null, problem: report.divergence ?? report.inconclusive }
}
await node.close()
await rm(storage, { recursive: true, force: true })
console.log(JSON.stringify(out))

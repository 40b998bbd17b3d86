/**
 * A volunteer in a process of its own (as it would be on its own machine):
 * joins the loopback DHT at the bootstrap given, audits the VM, prints one
 * JSON line: {"ok", "calls", "secs", "fetched"}. Arguments: bootstrap port, VM key.
 * Storage is a fresh temporary directory, removed after. Used by bench/index.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmsNode } from '../src/index.js'

const [port, key] = process.argv.slice(2) as [string, string]
const storage = await mkdtemp(join(tmpdir(), 'vms-volunteer-'))
// As the CLI joins a loopback DHT: an ephemeral node on the bootstrap given.
const node = new VmsNode({ storage, bootstrap: [{ host: '127.0.0.1', port: Number(port) }], timeoutMs: 60000 })
const start = performance.now()
const report = await node.audit(key)
const secs = (performance.now() - start) / 1000
await node.close()
await rm(storage, { recursive: true, force: true })
console.log(JSON.stringify({ ok: report.ok, calls: report.calls, secs, fetched: report.fetched ?? null, problem: report.divergence ?? report.inconclusive }))

/**
 * A volunteer in a process of its own (as it would be on its own machine):
 * joins the loopback DHT at the bootstrap given, audits the VM, prints one
 * JSON line: {"ok", "calls", "secs"}. Arguments: bootstrap port, VM key.
 * Storage is a fresh temporary directory, removed after. Used by bench/index.ts.
 */
import createTestnet from 'hyperdht/testnet.js'
import { VmsNode } from '../src/index.js'

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const [port, key] = process.argv.slice(2) as [string, string]
const storage = await mkdtemp(join(tmpdir(), 'vms-volunteer-'))
const net = await createTestnet(1, { host: '127.0.0.1', bootstrap: [{ host: '127.0.0.1', port: Number(port) }] })
const node = new VmsNode({ storage, dht: net.createNode(), timeoutMs: 60000 })
const start = performance.now()
const report = await node.audit(key)
const secs = (performance.now() - start) / 1000
await node.close()
await net.destroy()
await rm(storage, { recursive: true, force: true })
console.log(JSON.stringify({ ok: report.ok, calls: report.calls, secs, problem: report.divergence ?? report.inconclusive }))

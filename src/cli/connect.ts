/** Reaching VMs and nodes over the swarm for one command: a short-lived client node, and a node to manage (deploy, ls, stop). */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VmsNode } from '../node/vms-node.js'
import { chooseDht, loadIdentity, type DhtChoice } from './config.js'
import { wholeFlag } from './flags.js'
import { fail } from './fail.js'

/**
 * A short-lived client node with its own temporary storage. `heads`: where a
 * volunteer keeps the heads it verified across runs (the storage goes).
 */
export async function withClient<T>(flags: { bootstrap?: string; local?: boolean; identity?: string; timeout?: string }, fn: (node: VmsNode, dht: DhtChoice) => Promise<T>, { signs = true, heads }: { signs?: boolean; heads?: string } = {}): Promise<T> {
  const timeoutMs = wholeFlag(flags.timeout, '--timeout', 1, '15000') ?? 15000
  const dht = await chooseDht(flags)
  // Reading signs nothing: no identity is made for it.
  const identity = signs ? await loadIdentity(flags.identity, announceIdentity) : undefined
  const storage = await mkdtemp(join(tmpdir(), 'vms-client-'))
  const node = new VmsNode({ storage, bootstrap: dht.bootstrap, identity, timeoutMs, heads })
  try {
    return await fn(node, dht)
  } finally {
    await node.close()
    await dht.local?.destroy()
    await rm(storage, { recursive: true, force: true })
  }
}

/** A caller identity made on first use: say where it is kept (its key is who the caller is). */
export function announceIdentity(path: string, identity: { id: string }): void {
  process.stderr.write(`vms-node: made a new caller identity ${identity.id} in ${path} (keep it: the calls it signs are yours)\n`)
}

export async function withNode<T>(cmd: { flags: Record<string, any> }, fn: (remote: Awaited<ReturnType<VmsNode['manage']>>) => Promise<T>): Promise<T> {
  if (!cmd.flags.to) fail('give the node with --to NODE_KEY')
  return withClient(cmd.flags, async (node) => {
    const remote = await node.manage(cmd.flags.to)
    return fn(remote)
  })
}

/**
 * Which DHT a node uses: the public one by default, or a bootstrap list (a
 * loopback testnet for tests, demos and LANs). With a bootstrap list the node
 * runs an ephemeral DHT node: it never enters others' routing tables, so a
 * short-lived process (a CLI call) leaves no dead peer behind for the next
 * lookups to time out on.
 */
import Hyperswarm from 'hyperswarm'
import DHT from 'hyperdht'

export interface Bootstrap { host: string; port: number }

/** `close({ force })`: the DHT is known to be out of reach (an unannounce timed out): do not wait for it again. */
export interface Network { swarm: Hyperswarm; close(opts?: { force?: boolean }): Promise<void> }

/**
 * How long a closing node waits to unannounce itself. Leaving is a courtesy
 * to lookups (announcements expire on the DHT anyway); with the DHT out of
 * reach, each unannounce waited ~1 s and the swarm's own close ~4 s more, so
 * Ctrl-C on a node of 10 VMs took 11 s. After this the swarm is closed at once.
 */
export const LEAVE_MS = 2000

/** Whether `promise` settled within `ms` (it is left to run either way). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([promise.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}

/** Close the swarm, unannouncing what it can within LEAVE_MS. */
async function closeSwarm(swarm: Hyperswarm, force = false): Promise<void> {
  const closing = swarm.destroy()
  // Out of reach: closing the DHT's sockets ends the unannounces still waiting (the swarm's close with them).
  if (force || !(await settlesWithin(closing, LEAVE_MS))) await swarm.dht.destroy({ force: true })
  await closing
}

export async function openNetwork(opts: { bootstrap?: Bootstrap[] | null; dht?: unknown; keyPair?: { publicKey: Buffer; secretKey: Buffer } }): Promise<Network> {
  if (opts.dht) {
    const swarm = new Hyperswarm({ dht: opts.dht, keyPair: opts.keyPair })
    return { swarm, close: (o) => closeSwarm(swarm, o?.force) }
  }
  if (!opts.bootstrap || opts.bootstrap.length === 0) {
    const swarm = new Hyperswarm({ keyPair: opts.keyPair })
    return { swarm, close: (o) => closeSwarm(swarm, o?.force) }
  }
  const loopback = opts.bootstrap.every((b) => b.host === '127.0.0.1' || b.host === 'localhost')
  const dht = new DHT({ bootstrap: opts.bootstrap, ephemeral: true, ...(loopback ? { host: '127.0.0.1', firewalled: false } : {}) })
  await (dht as unknown as { fullyBootstrapped(): Promise<void> }).fullyBootstrapped()
  const swarm = new Hyperswarm({ dht, keyPair: opts.keyPair })
  return {
    swarm,
    async close(o) {
      await closeSwarm(swarm, o?.force)
      await dht.destroy()
    }
  }
}

/** Parse `host:port[,host:port…]`. */
export function parseBootstrap(text: string): Bootstrap[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const i = s.lastIndexOf(':')
    const port = Number(s.slice(i + 1))
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad bootstrap address ${s}: use host:port`)
    return { host: s.slice(0, i), port }
  })
}

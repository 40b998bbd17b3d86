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

export interface Network { swarm: Hyperswarm; close(): Promise<void> }

export async function openNetwork(opts: { bootstrap?: Bootstrap[] | null; dht?: unknown; keyPair?: { publicKey: Buffer; secretKey: Buffer } }): Promise<Network> {
  if (opts.dht) {
    const swarm = new Hyperswarm({ dht: opts.dht, keyPair: opts.keyPair })
    return { swarm, close: () => swarm.destroy() }
  }
  if (!opts.bootstrap || opts.bootstrap.length === 0) {
    const swarm = new Hyperswarm({ keyPair: opts.keyPair })
    return { swarm, close: () => swarm.destroy() }
  }
  const loopback = opts.bootstrap.every((b) => b.host === '127.0.0.1' || b.host === 'localhost')
  const dht = new DHT({ bootstrap: opts.bootstrap, ephemeral: true, ...(loopback ? { host: '127.0.0.1', firewalled: false } : {}) })
  await (dht as unknown as { fullyBootstrapped(): Promise<void> }).fullyBootstrapped()
  const swarm = new Hyperswarm({ dht, keyPair: opts.keyPair })
  return {
    swarm,
    async close() {
      await swarm.destroy()
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

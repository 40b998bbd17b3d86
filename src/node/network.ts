/**
 * Which DHT a node uses: the public one by default, or a bootstrap list (a
 * loopback testnet for tests, demos and LANs). With a bootstrap list the node
 * runs its own small DHT node joined to it, then swarms through it.
 */
import Hyperswarm from 'hyperswarm'
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'

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
  const local: Testnet = await createTestnet(1, { host: opts.bootstrap[0]!.host, bootstrap: opts.bootstrap })
  const swarm = new Hyperswarm({ dht: local.createNode(), keyPair: opts.keyPair })
  return {
    swarm,
    async close() {
      await swarm.destroy()
      await local.destroy()
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

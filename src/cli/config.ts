/**
 * Where the CLI keeps things, and which DHT it uses.
 * - VMS_HOME (default ~/.config/vms-node): identity.json, storage/ (the serving node's storage)
 * - the DHT: --bootstrap host:port[,…], else VMS_BOOTSTRAP, else --local (a loopback
 *   DHT on a fixed port, started if none answers), else the public DHT.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import { Identity } from '../identity.js'
import { parseBootstrap, type Bootstrap } from '../node/network.js'

export const LOCAL_PORT = 49739

export function vmsHome(): string {
  return process.env.VMS_HOME || join(homedir(), '.config', 'vms-node')
}

/** The caller identity: `file`, or one made on first use under VMS_HOME. */
export async function loadIdentity(file?: string): Promise<Identity> {
  const path = file || join(vmsHome(), 'identity.json')
  try {
    const { seed } = JSON.parse(await readFile(path, 'utf8')) as { seed: string }
    return Identity.fromSeed(b4a.from(seed, 'hex'))
  } catch (err) {
    // Only a missing default identity is made anew: a damaged one is never overwritten (its key would be lost).
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read identity ${path}: ${(err as Error).message} (repair or move it; a new one is made only where none exists)`)
    if (file) throw new Error(`identity file ${file} does not exist`)
  }
  const seed = crypto.randomBytes(32)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, JSON.stringify({ seed: b4a.toString(seed, 'hex') }) + '\n', { mode: 0o600 })
  return Identity.fromSeed(seed)
}

export interface DhtChoice { bootstrap: Bootstrap[] | null; local: Testnet | null; describe: string }

/** Resolve --bootstrap / VMS_BOOTSTRAP / --local; with --local, start the loopback DHT if nobody has. */
export async function chooseDht(flags: { bootstrap?: string; local?: boolean }): Promise<DhtChoice> {
  const text = flags.bootstrap || process.env.VMS_BOOTSTRAP
  if (text) return { bootstrap: parseBootstrap(text), local: null, describe: `bootstrap ${text}` }
  if (flags.local) {
    const bootstrap = [{ host: '127.0.0.1', port: LOCAL_PORT }]
    try {
      const local = await createTestnet(3, { host: '127.0.0.1', port: LOCAL_PORT })
      return { bootstrap, local, describe: `local DHT on 127.0.0.1:${LOCAL_PORT} (started here)` }
    } catch {
      return { bootstrap, local: null, describe: `local DHT on 127.0.0.1:${LOCAL_PORT}` }
    }
  }
  return { bootstrap: null, local: null, describe: 'public DHT' }
}

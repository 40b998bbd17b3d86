/**
 * Where the CLI keeps things, and which DHT it uses.
 * - VMS_HOME (default ~/.config/vms-node): identity.json, storage/ (the serving node's storage)
 * - the DHT: --bootstrap host:port[,…], else VMS_BOOTSTRAP, else --local (a loopback
 *   DHT on a fixed port, started if none answers), else the public DHT.
 */
import { link, mkdir, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import crypto from 'hypercore-crypto'
import b4a from 'b4a'
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import { Identity } from '../identity.js'
import { readJsonFile, isObject } from '../json-file.js'
import { parseBootstrap, type Bootstrap } from '../node/network.js'

export const LOCAL_PORT = 49739

export function vmsHome(): string {
  return process.env.VMS_HOME || join(homedir(), '.config', 'vms-node')
}

/**
 * The caller identity in `file` (default: VMS_HOME/identity.json), made on
 * first use; `made` hears of a new one. A new one is written whole (a file of
 * its own, linked into place), and when two commands make one at the same
 * moment the first to land is the one both use. A damaged identity is
 * reported, never written over: its key would be lost.
 */
export async function loadIdentity(file?: string, made?: (path: string, identity: Identity) => void): Promise<Identity> {
  const path = identityPath(file)
  const existing = await readIdentity(path)
  if (existing) return existing
  const seed = crypto.randomBytes(32)
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.${b4a.toString(crypto.randomBytes(4), 'hex')}.tmp`
  await writeFile(tmp, JSON.stringify({ seed: b4a.toString(seed, 'hex') }) + '\n', { mode: 0o600 })
  let linked = false
  try {
    await link(tmp, path)
    linked = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  } finally {
    await unlink(tmp)
  }
  const identity = (await readIdentity(path))!
  if (linked) made?.(path, identity)
  return identity
}

export function identityPath(file?: string): string {
  return file || join(vmsHome(), 'identity.json')
}

async function readIdentity(path: string): Promise<Identity | null> {
  let value
  try {
    value = await readJsonFile(path, isIdentity, 'is not a vms-node identity (a JSON object with a 64-hex-digit "seed")')
  } catch (err) {
    throw new Error(`cannot read identity ${path}: ${(err as Error).message} (repair or move it; a new one is made only where none exists)`)
  }
  return value && Identity.fromSeed(b4a.from(value.seed, 'hex'))
}

function isIdentity(value: unknown): value is { seed: string } {
  return isObject(value) && typeof value.seed === 'string' && /^[0-9a-f]{64}$/i.test(value.seed)
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

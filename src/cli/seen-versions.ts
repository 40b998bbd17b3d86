/**
 * The script version of each VM this user last called ($VMS_HOME/versions.json):
 * `vms-node call` signs its calls for it, so a call made for one script never
 * runs on another. When the host says the script changed, the call is not
 * run; the new version is kept, and running the call again is the user's say.
 */
import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import b4a from 'b4a'
import { readJsonFile, writeJsonFile, isObject } from '../json-file.js'
import { vmsHome } from './config.js'

export interface SeenVersion { version: number; hash: Uint8Array; methods: string[] }

type Stored = Record<string, { version: number; hash: string; methods: string[] }>

function path(): string { return join(vmsHome(), 'versions.json') }

const valid = (v: unknown): v is Stored => isObject(v) && Object.values(v).every((e) => isObject(e) && typeof e.version === 'number' && typeof e.hash === 'string' && /^[0-9a-f]{64}$/.test(e.hash) && Array.isArray(e.methods))

async function read(): Promise<Stored> {
  return (await readJsonFile(path(), valid, 'is damaged (the script versions your calls were made for): delete it, and calls go to the versions in force')) ?? {}
}

export async function seenVersion(vmKey: Uint8Array): Promise<SeenVersion | null> {
  const e = (await read())[b4a.toString(vmKey, 'hex')]
  return e ? { version: e.version, hash: b4a.from(e.hash, 'hex'), methods: e.methods } : null
}

export async function rememberVersion(vmKey: Uint8Array, v: SeenVersion): Promise<void> {
  const all = await read()
  const hex = b4a.toString(vmKey, 'hex')
  const hash = b4a.toString(v.hash, 'hex')
  if (all[hex]?.hash === hash && String(all[hex]!.methods) === String(v.methods)) return
  all[hex] = { version: v.version, hash, methods: v.methods }
  await mkdir(vmsHome(), { recursive: true })
  await writeJsonFile(path(), all)
}

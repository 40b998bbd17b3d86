/**
 * Which script a VM runs, and who may change it. The genesis fixes the
 * governance (immutable, or a set of owner keys) and the first script
 * (version 1); each upgrade entry makes the next version. The version in force
 * at an entry is that of the latest upgrade before it, else the genesis'.
 */
import b4a from 'b4a'
import { EntryType, scriptHash, type Genesis, type LogEntry, type UpgradeEntry } from '../messages/index.js'

export interface ScriptVersion {
  /** 1 for the genesis' script, then one more per upgrade. */
  version: number
  hash: Buffer
  script: string
  filename: string
  /** The entry that made it: 0 for the genesis, else its upgrade entry. */
  index: number
}

export function genesisVersion(g: Genesis): ScriptVersion {
  return { version: 1, hash: scriptHash(g.script), script: g.script, filename: g.filename, index: 0 }
}

export function upgradeVersion(e: UpgradeEntry, index: number): ScriptVersion {
  return { version: e.version, hash: scriptHash(e.script), script: e.script, filename: e.filename, index }
}

/** The keys that may upgrade the VM; none: it is immutable (and so is every VM made before upgrades existed). */
export function ownersOf(g: Genesis): Uint8Array[] {
  return g.governance?.owners ?? []
}

export function isOwner(g: Genesis, key: Uint8Array): boolean {
  return ownersOf(g).some((o) => b4a.equals(o, key))
}

/**
 * The script in force for the entries from `before` on: the latest upgrade
 * entry before `before`, read backwards, else the genesis'. An immutable VM
 * has none to look for.
 */
export async function scriptAt(read: (index: number) => Promise<LogEntry>, genesis: Genesis, before: number): Promise<ScriptVersion> {
  if (ownersOf(genesis).length === 0) return genesisVersion(genesis)
  for (let i = before - 1; i >= 1; i--) {
    const e = await read(i)
    if (e.type === EntryType.UPGRADE) return upgradeVersion(e, i)
  }
  return genesisVersion(genesis)
}

/** The versions of a VM, newest first, walking back from the upgrade entry at `latest` (0: only the genesis'). */
export async function versionHistory(read: (index: number) => Promise<LogEntry>, genesis: Genesis, latest: number): Promise<ScriptVersion[]> {
  const out: ScriptVersion[] = []
  for (let i = latest; i > 0;) {
    const e = await read(i)
    if (e.type !== EntryType.UPGRADE) break
    out.push(upgradeVersion(e, i))
    i = e.previous
  }
  out.push(genesisVersion(genesis))
  return out
}

/** One version of a VM and the entries it ran (`to` -1: none yet). */
export interface VersionSpan { version: number; hash: Buffer; filename: string; from: number; to: number }

/**
 * Every version of a VM, oldest first, with the entries each ran, as the log
 * says up to `length`. `at` is where a peer said the version in force began
 * (its hello): taken only if that entry is an upgrade, and the log is read on
 * from there for any upgrade since.
 */
export async function versionSpans(read: (index: number) => Promise<LogEntry>, genesis: Genesis, at: number, length: number): Promise<VersionSpan[]> {
  let latest = 0
  if (ownersOf(genesis).length > 0) {
    if (at > 0 && at < length && (await read(at)).type === EntryType.UPGRADE) latest = at
    for (let i = latest + 1; i < length; i++) if ((await read(i)).type === EntryType.UPGRADE) latest = i
  }
  const versions = (await versionHistory(read, genesis, latest)).reverse()
  return versions.map((v, i) => ({ version: v.version, hash: v.hash, filename: v.filename, from: v.index, to: i + 1 < versions.length ? versions[i + 1]!.index - 1 : length - 1 }))
}

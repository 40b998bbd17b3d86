/**
 * The heads a volunteer has verified, per VM: length, fork, tree hash, and
 * the host's signature when the head was the log's tip. A later history that
 * does not extend a remembered head (shorter, or another tree at that length)
 * is equivocation: the host rewrote what it had already signed.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import { readJsonFile, writeJsonFile, isObject } from '../json-file.js'

export interface Head { length: number; fork: number; treeHash: string; signature: string | null }

export class HeadBook {
  private path: string | null
  private heads = new Map<string, Head>()
  private loading: Promise<void> | null = null
  private writing: Promise<void> = Promise.resolve()

  constructor(path: string | null) {
    this.path = path
  }

  private load(): Promise<void> {
    this.loading ??= this.read()
    return this.loading
  }

  private async read(): Promise<void> {
    if (!this.path) return
    // Never forget silently: the heads are what equivocation is checked against.
    const data = await readJsonFile(this.path, (v): v is Record<string, Head> => isObject(v),
      '(the heads this node verified) is damaged: repair it, or move it away to forget them')
    for (const [k, v] of Object.entries(data ?? {})) this.heads.set(k, v)
  }

  async get(key: Uint8Array): Promise<Head | null> {
    await this.load()
    return this.heads.get(b4a.toString(key, 'hex')) ?? null
  }

  /** Remember `head` (a verification that finishes late with a shorter head changes nothing). */
  async set(key: Uint8Array, head: Head): Promise<void> {
    await this.load()
    const k = b4a.toString(key, 'hex')
    const prev = this.heads.get(k)
    if (prev && prev.length > head.length) return
    this.heads.set(k, head)
    const path = this.path
    if (!path) return
    // One write at a time, each whole.
    this.writing = this.writing.catch(() => {}).then(() => writeJsonFile(path, Object.fromEntries(this.heads)))
    await this.writing
  }
}

/** The head of `log` at `length` (with the host's signature if that is the tip). */
export async function headOf(log: Hypercore, length: number): Promise<Head> {
  const signature = length === log.length && log.state.signature ? b4a.toString(log.state.signature, 'hex') : null
  return { length, fork: log.fork, treeHash: b4a.toString(await log.treeHash(length), 'hex'), signature }
}

/** How `log` fails to extend `head`, or null if it does. */
export async function equivocation(log: Hypercore, head: Head): Promise<string | null> {
  if (log.length < head.length) return `the log was truncated: it had ${head.length} entries, it now has ${log.length}`
  const now = b4a.toString(await log.treeHash(head.length), 'hex')
  if (now !== head.treeHash) return `the log was rewritten: at length ${head.length} its tree hash was ${head.treeHash.slice(0, 16)}…, now ${now.slice(0, 16)}…`
  return null
}

/**
 * If a peer already holds a newer fork of the log (the writer truncated it),
 * let hypercore verify and apply it before anything is compared.
 */
export async function settleForks(log: Hypercore, timeoutMs = 5000): Promise<void> {
  const peers = () => log.peers
  const end = Date.now() + timeoutMs
  // First hear some peer's head, then wait while any peer is on a newer fork than ours.
  while (!peers().some((p) => p.remoteLength > 0 || p.remoteFork > 0) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50))
  }
  while (peers().some((p) => p.remoteFork > log.fork) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50))
  }
}

import { command, flag, rest, summary, description } from 'paparam'
import { statfs } from 'node:fs/promises'
import { join } from 'node:path'
import b4a from 'b4a'
import { VmsNode, type Mirrored } from '../../node/vms-node.js'
import type { Equivocation } from '../../node/head-exchange.js'
import { watchMirror, type MirrorProgress } from '../../node/mirror-progress.js'
import { formatKey, toKey } from '../../identity.js'
import { VmsError } from '../../errors.js'
import { chooseDht, vmsHome } from '../config.js'
import { StatusLine } from '../status-line.js'
import { fail } from '../fail.js'
import { wholeFlag, restAndFlags, netFlags } from '../flags.js'
import { stopSignal, untilStopped } from '../stop-signal.js'
import { reopenProgress } from '../progress.js'

export const mirrorCmd = command(
  'mirror',
  summary('Keep full, live replicas of VMs and serve them to others (reads and audits work with the host away)'),
  description('Reopening the same --storage mirrors the same VMs again; `mirror --storage DIR` alone resumes.'),
  rest('[...keys]', 'VM keys'),
  flag('--storage <dir>', 'the node\'s storage directory (default: $VMS_HOME/mirror)'),
  flag('--timeout <ms>', 'how long each look for a VM\'s peers lasts before it is tried again (default 15000)'),
  ...netFlags,
  async () => {
    const keys = restAndFlags(mirrorCmd, ['storage', 'bootstrap', 'timeout'], ['local', 'json'])
    const timeoutMs = wholeFlag(mirrorCmd.flags.timeout, '--timeout', 1, '15000')
    const json = !!mirrorCmd.flags.json
    const stopped = stopSignal()
    const storage = mirrorCmd.flags.storage || join(vmsHome(), 'mirror')
    const dht = await chooseDht(mirrorCmd.flags)
    const node = new VmsNode({ storage, bootstrap: dht.bootstrap, timeoutMs })
    await node.ready().catch((err: Error) => fail(err instanceof VmsError ? err.message : `cannot open ${storage}: ${err.message}`))
    const watching: Array<() => void> = []
    const status = new StatusLine()
    // The host rewrote history this mirror held: say so, with evidence anyone can check (verify-report).
    node.on('equivocation', (e: Equivocation) => {
      reportEquivocation(node, e).then(({ key, file }) => {
        if (json) return console.log(JSON.stringify({ event: 'equivocation', key, length: e.length, report: file }))
        status.clear()
        console.error(`vms-node: the host of ${key} rewrote its log (at entry ${e.length}): equivocation${file ? `; evidence in ${file} (vms-node verify-report ${file})` : ''}`)
      }, () => {})
    })
    let stopping = false
    const start = async (m: Mirrored): Promise<void> => {
      const key = formatKey(m.key)
      status.clear()
      if (json) console.log(JSON.stringify({ event: 'mirroring', key }))
      else console.log(`vms-node mirroring ${key}`)
      const stall = watchStall(key, storage, json, status)
      const unwatch = await watchMirror(m, mirrorReporter(key, json, status, stall), json ? 1000 : 250)
      watching.push(() => { stall.stop(); unwatch() })
      // The first copy's bulk part: say how it went when it brought something or stopped short.
      m.filled.then(({ bulk, failure }) => {
        if (stopping) return // stopped short because it is closing: nothing to report
        if (json) return console.log(JSON.stringify({ event: 'filled', key, bulk, failure }))
        if (bulk === 0 && !failure) return
        status.clear()
        console.log(`copied ${key.slice(0, 8)}…: ${bulk.toLocaleString('en-US')} blocks in checked stretches` + (failure ? `; the bulk copy stopped (${failure}): replicating the rest block by block` : ''))
      }, () => {})
    }
    // A VM no peer serves yet (its host not up, say) is waited for: a volunteer's mirror runs for good.
    const acquire = async (k: Buffer): Promise<void> => {
      const key = formatKey(k)
      for (let tries = 1; !stopping; tries++) {
        try {
          const m = await node.mirror(k)
          if (!stopping) await start(m)
          return
        } catch (err) {
          if (stopping) return
          if ((err as VmsError).code !== 'HOST_OFFLINE') {
            status.clear()
            console.error(`vms-node: cannot mirror ${key}: ${(err as Error).message}`)
            return
          }
          if (json) console.log(JSON.stringify({ event: 'waiting', key, tries }))
          else status.update(`no peer has VM ${key.slice(0, 8)}… yet: waiting for its host or a mirror (tried ${tries} time${tries === 1 ? '' : 's'})`)
          await new Promise((resolve) => setTimeout(resolve, 1000))
        }
      }
    }
    try {
      const wanted = keys.map((k) => toKey(k))
      const reopening = reopenProgress(`the mirrors in ${storage}`, json)
      const mirrored = await node.mirrorStored({ onProgress: reopening.progress }).finally(reopening.end)
      const missing = wanted.filter((k) => !mirrored.some((m) => b4a.equals(m.key, k)))
      if (mirrored.length === 0 && missing.length === 0) throw new Error('nothing to mirror: give VM keys, or a --storage that mirrors some')
      for (const m of mirrored) await start(m)
      for (const k of missing) void acquire(k)
    } catch (err) {
      await node.close()
      fail((err as Error).message)
    }
    if (!json) console.log(`  on the ${dht.describe}; storage ${storage}; Ctrl-C to stop`)
    await untilStopped(stopped, json, 'leaving the DHT', () => { stopping = true; status.clear() })
    for (const stop of watching) stop()
    await node.close()
    await dht.local?.destroy()
    if (json) console.log(JSON.stringify({ event: 'stopped' }))
  }
)

/** Write the evidence of an equivocation a mirror found (both signed heads), if it has the head from before, under $VMS_HOME/reports. */
async function reportEquivocation(node: VmsNode, e: Equivocation): Promise<{ key: string; file: string | null }> {
  const key = formatKey(e.vmKey)
  const m = node.mirrored(e.vmKey)
  if (!m) return { key, file: null }
  const { makeEquivocationEvidence, verifyEvidence } = await import('../../audit/evidence.js')
  // The signed head the mirror's log does not extend: a peer's (two histories met) or the one it kept (a truncation).
  for (const before of [e.theirs, e.ours]) {
    if (!before) continue
    const divergence = { index: e.length, class: 'equivocation' as const, message: `the host signed its log at length ${before.length} (fork ${before.fork}), and another history`, expected: `length ≥ ${before.length} on one history`, found: `length ${m.log.length}, fork ${m.log.fork}` }
    const evidence = await makeEquivocationEvidence(m.log, before, divergence)
    // Written only if anyone would find it proven.
    if (!(await verifyEvidence(JSON.parse(JSON.stringify(evidence)), { tmpdir: '' })).proven) continue
    const { mkdir, writeFile } = await import('node:fs/promises')
    const dir = join(vmsHome(), 'reports')
    await mkdir(dir, { recursive: true })
    const file = join(dir, `${key}-equivocation-${Date.now()}.json`)
    await writeFile(file, JSON.stringify(evidence))
    return { key, file }
  }
  return { key, file: null }
}

/** A mirror's progress: blocks held while it catches up (stderr), and each time it holds all it knows of. */
function mirrorReporter(key: string, json: boolean, status: StatusLine, stall?: StallWatch): (p: MirrorProgress) => void {
  let last = ''
  return (p) => {
    stall?.progress(p)
    if (p.held) {
      const now = `${p.log.total}/${p.files.total}`
      if (now === last) return
      last = now
      if (json) console.log(JSON.stringify({ event: 'held', key, length: p.log.total, files: p.files.total, blobs: p.blobs.total }))
      else {
        status.clear()
        console.log(`held ${key.slice(0, 8)}…: entries 0–${p.log.total - 1}, files version ${p.files.total}`)
      }
    } else if (json) {
      console.log(JSON.stringify({ event: 'progress', key, log: p.log, files: p.files, blobs: p.blobs }))
    } else {
      status.update(`mirroring ${key.slice(0, 8)}…  log ${p.log.have}/${p.log.total}  files ${p.files.have}/${p.files.total}  contents ${p.blobs.have}/${p.blobs.total}`)
    }
  }
}

/** A mirror that stops getting blocks for this long says why it may be (checked every STALL_MS / 2). */
const STALL_MS = 10_000
/** Free space under which a stalled mirror blames the disk (RocksDB wants room for its log files). */
const LOW_DISK_BYTES = 64 * 1024 * 1024

interface StallWatch { progress(p: MirrorProgress): void; stop(): void }

/**
 * Watches a mirror that is catching up: when no block arrived for STALL_MS,
 * says so once, with the free space of the disk under `storage` (a full disk
 * stops a copy without an error anywhere else: RocksDB's writes fail inside
 * replication, and it takes none until reopened), and again when blocks flow
 * once more.
 */
function watchStall(key: string, storage: string, json: boolean, status: StatusLine): StallWatch {
  let have = -1
  let held = true
  let since = Date.now()
  let told = false
  const timer = setInterval(async () => {
    if (held || told || Date.now() - since < STALL_MS) return
    told = true
    const fs = await statfs(storage).catch(() => null)
    const free = fs ? fs.bavail * fs.bsize : null
    const seconds = Math.round((Date.now() - since) / 1000)
    if (json) return console.log(JSON.stringify({ event: 'stalled', key, seconds, diskFree: free }))
    status.clear()
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
    if (free !== null && free < LOW_DISK_BYTES) console.error(`vms-node: ${key.slice(0, 8)}…: no block stored for ${seconds} s, and the disk holding ${storage} has ${mb(free)} free: it is full: free some space, then start the mirror again (it resumes where it stopped)`)
    else console.error(`vms-node: ${key.slice(0, 8)}…: no block stored for ${seconds} s${free === null ? '' : ` (${mb(free)} free on the disk)`}: no peer is sending it; the mirror goes on when one does`)
  }, STALL_MS / 2)
  timer.unref()
  return {
    progress(p) {
      const now = p.log.have + p.files.have + p.blobs.have
      held = p.held
      if (now === have) return
      have = now
      since = Date.now()
      if (told && !p.held) {
        if (json) console.log(JSON.stringify({ event: 'flowing', key }))
        else { status.clear(); console.error(`vms-node: ${key.slice(0, 8)}…: blocks are arriving again`) }
      }
      told = false
    },
    stop() { clearInterval(timer) }
  }
}

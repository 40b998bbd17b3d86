/**
 * How much of a VM a mirror holds: its log, its files hyperbee and its file
 * contents, each as blocks held in a row from the start against the length
 * the mirror knows. `watchMirror` reports as blocks arrive, and every
 * `intervalMs` while it catches up (at most that often), and says when the
 * mirror holds everything it knows of.
 */
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'

export interface MirrorProgress {
  log: { have: number; total: number }
  files: { have: number; total: number }
  blobs: { have: number; total: number }
  /** Every block of all three cores, as far as the mirror knows their lengths. */
  held: boolean
}

export async function mirrorProgress(m: { log: Hypercore; drive: Hyperdrive }): Promise<MirrorProgress> {
  const blobs = (await m.drive.getBlobs()).core
  const of = (core: Hypercore) => ({ have: core.contiguousLength, total: core.length })
  const p = { log: of(m.log), files: of(m.drive.db.core), blobs: of(blobs) }
  return { ...p, held: p.log.have === p.log.total && p.files.have === p.files.total && p.blobs.have === p.blobs.total }
}

/** Call `onProgress` as the mirror's cores grow or fill (throttled); returns a function that stops watching. */
export async function watchMirror(m: { log: Hypercore; drive: Hyperdrive }, onProgress: (p: MirrorProgress) => void, intervalMs = 250): Promise<() => void> {
  const cores = [m.log, m.drive.db.core, (await m.drive.getBlobs()).core]
  let timer: NodeJS.Timeout | null = null
  let stopped = false
  const report = () => {
    timer = null
    if (stopped) return
    mirrorProgress(m).then((p) => {
      if (stopped) return
      onProgress(p)
      // While it catches up, look again: a bulk copy stores stretches without per-block events.
      if (!p.held) changed()
    }, () => {})
  }
  const changed = () => { if (!timer && !stopped) timer = setTimeout(report, intervalMs) }
  for (const core of cores) { core.on('download', changed); core.on('append', changed) }
  report()
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
    for (const core of cores) { core.off('download', changed); core.off('append', changed) }
  }
}

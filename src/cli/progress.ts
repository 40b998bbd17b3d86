/** Progress on stderr that several commands share: a node's reopen, a replay's bar. */
import { StatusLine } from './status-line.js'

/**
 * How far a node's reopen got (`what`: "the VMs in DIR"): a status line, or
 * with `json` a `reopening` event at most once a second, and the last.
 */
export function reopenProgress(what: string, json: boolean): { progress: (opened: number, total: number) => void; end: () => void } {
  const status = new StatusLine()
  let reported = 0
  return {
    progress(opened, total) {
      if (!json) return status.update(`reopening ${what}: ${opened.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`)
      if (opened < total && Date.now() - reported < 1000) return
      reported = Date.now()
      console.log(JSON.stringify({ event: 'reopening', opened, total }))
    },
    end: () => status.end()
  }
}

/** The replay's progress line, with the rate since `start`. */
export function replayProgress(status: StatusLine, start: number): (p: { index: number; total: number; calls: number }) => void {
  return ({ index, total, calls }) => {
    const pct = Math.floor((index / total) * 100)
    const rate = Math.round(calls / Math.max(0.001, (Date.now() - start) / 1000))
    status.update(`replaying ${total.toLocaleString('en-US')} entries  ${bar(pct)} ${pct}%  ${rate.toLocaleString('en-US')} calls/s`)
  }
}

export function bar(pct: number): string {
  const n = Math.round(pct / 5)
  return '█'.repeat(n) + '░'.repeat(20 - n)
}

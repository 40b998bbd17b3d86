/**
 * `durability: 'mirror'`: a call is answered only once some peer (a mirror
 * downloading the log live) holds its entry, so it survives the loss of the
 * host's machine.
 */
/** Whether some peer holds `log` up to `length` within `timeoutMs` (a mirror downloading it live: `durability: 'mirror'`). */
export function heldByAPeer(log: { peers: Array<{ remoteContiguousLength: number }>; on(e: 'upload', f: () => void): unknown; off(e: 'upload', f: () => void): unknown }, length: number, timeoutMs: number): Promise<boolean> {
  const held = () => log.peers.some((p) => p.remoteContiguousLength >= length)
  if (held()) return Promise.resolve(true)
  return new Promise((resolve) => {
    const check = () => { if (held()) done(true) }
    const timer = setTimeout(() => done(held()), timeoutMs)
    const poll = setInterval(check, 20)
    const done = (v: boolean) => { clearTimeout(timer); clearInterval(poll); log.off('upload', check); resolve(v) }
    log.on('upload', check)
  })
}

/** Stopping a long-running command (serve, mirror, testnet) on SIGINT or SIGTERM. */

/**
 * SIGINT or SIGTERM from now on. Listen before the node says it serves: a
 * signal that comes right after must stop it gracefully, not kill it.
 */
export function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
}

/**
 * Wait for the stop signal, then say what stopping does. A second signal
 * quits at once: storage is safe at any moment (an answered call is on disk;
 * one in flight is logged whole or not at all), so nobody waits on a DHT.
 */
export async function untilStopped(signal: Promise<void>, json: boolean, doing: string, before?: () => void): Promise<void> {
  await signal
  before?.()
  if (!json) console.error(`stopping: ${doing}… (again to quit at once)`)
  const now = (): void => {
    console.error('vms-node: stopped at once; the storage is safe: reopening it resumes')
    process.exit(130)
  }
  process.once('SIGINT', now)
  process.once('SIGTERM', now)
}

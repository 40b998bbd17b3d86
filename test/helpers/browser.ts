/**
 * A real browser for tests: Debian's Chromium, driven by playwright-core,
 * headless and kept off the network (no background services, no updates, a
 * fresh profile). Closed when the test ends.
 */
import type { Test } from 'brittle'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.VMS_CHROMIUM || '/usr/bin/chromium'

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']

export async function browser(t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does), or set VMS_CHROMIUM`)
  const b = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true })
  t.teardown(() => b.close(), { order: -1 })
  return b
}

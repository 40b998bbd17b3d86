/**
 * `npm run build`'s last step: the browser bundles, with esbuild, into
 * dist/browser/ — the client (vms-node.js, also `vms-node/browser`), the
 * explorer's script, and its page and style as they are. The client's code is
 * the project's own (codecs, receipts, Merkle trees); only sodium-universal is
 * swapped for sodium-shim.ts (noble's BLAKE2b and ed25519). Prints the sizes.
 */
import { mkdir, copyFile, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { readFileSync } from 'node:fs'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SRC = join(ROOT, 'src/browser')
const OUT = join(ROOT, 'dist/browser')

const esbuild = await import('esbuild').catch(() => null)
if (!esbuild) {
  console.error('vms-node build: esbuild is not installed (a dev dependency), so the browser bundles were not made; `npm install` first')
  process.exit(1)
}
await mkdir(OUT, { recursive: true })
const common = {
  bundle: true,
  format: 'esm' as const,
  platform: 'browser' as const,
  target: ['chrome120', 'firefox128', 'safari17'],
  minify: true,
  sourcemap: true,
  legalComments: 'none' as const,
  alias: { 'sodium-universal': join(SRC, 'sodium-shim.ts') },
  logLevel: 'warning' as const
}
await esbuild.build({ ...common, entryPoints: [join(SRC, 'index.ts')], outfile: join(OUT, 'vms-node.js') })
await esbuild.build({ ...common, entryPoints: [join(SRC, 'explorer/explorer.ts')], outfile: join(OUT, 'explorer.js') })
for (const f of ['explorer.html', 'explorer.css']) await copyFile(join(SRC, 'explorer', f), join(OUT, f))
if (process.argv.includes('--sizes')) {
  for (const f of ['vms-node.js', 'explorer.js']) {
    const bytes = (await stat(join(OUT, f))).size
    console.log(`${f}: ${(bytes / 1024).toFixed(1)} KiB, ${(gzipSync(readFileSync(join(OUT, f))).byteLength / 1024).toFixed(1)} KiB gzipped`)
  }
}

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

/**
 * The Bare runtime the Bare tests run under. Fetched from the npm registry as
 * its platform package (bare-runtime-<os>-<arch>), once, into the cache that
 * `.ci/fetch-package` keeps, the way CI fetches Node: the bare-runtime
 * meta-package lists all 13 platforms' packages, and a lockfile made where
 * the registry lacks them makes `npm ci` fail everywhere. 1.31 goes with the
 * bare-type 1.1.1 override in package.json.
 */
export const BARE_VERSION = '1.31.0'

const ROOT = new URL('../../..', import.meta.url).pathname

export function bareBinary(): string {
  const platform = `${process.platform}-${process.arch}`
  const dir = execFileSync(join(ROOT, '.ci', 'fetch-package'), [`bare-runtime-${platform}@${BARE_VERSION}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  return join(dir, 'bin', process.platform === 'win32' ? 'bare.exe' : 'bare')
}

/**
 * Whether this runtime can run the sandbox (isolated-vm, on Node 24 or 26),
 * and if not, what to do. Loads nothing itself and imports no Node module:
 * Bare clients import this too. A client-only install (no isolated-vm: an
 * install with --omit=optional, an older Node, a platform with no prebuilt
 * binary) dials, calls and reads files; hosting, views and replay fail with
 * SANDBOX_UNAVAILABLE and this message.
 */

/** The Node majors isolated-vm 7 ships prebuilt binaries for. */
export const SUPPORTED_NODE = [24, 26]

export function isBare(): boolean {
  return !!(globalThis as { Bare?: unknown }).Bare
}

let cached: string | null | undefined

/**
 * Why the sandbox cannot run here, as a sentence starting with `doing`
 * ("hosting a VM needs …"), or null when it can (as far as can be told
 * without loading it: a binary that fails to load is reported by the sandbox
 * process).
 */
export function sandboxUnavailable(doing = 'hosting a VM'): string | null {
  if (cached === undefined) cached = whyUnavailable()
  return cached === null ? null : `${doing} needs the sandbox (isolated-vm on Node ${SUPPORTED_NODE.join(' or ')}): ${cached}`
}

/** What to do on a Node older than the sandbox supports (`version` as process.versions.node), or null. */
export function oldNode(version: string): string | null {
  const major = Number(version.split('.')[0])
  return major < SUPPORTED_NODE[0]! ? `this is Node ${version}: install Node 24 LTS (nvm install 24) or Node 26, then run npm install again` : null
}

function whyUnavailable(): string | null {
  if (isBare()) return 'under Bare a node can dial, call and read files; host, audit and run views with Node'
  const version = typeof process !== 'undefined' ? process.versions?.node : undefined
  if (!version) return 'this runtime is not Node.js; it can dial, call and read files'
  const old = oldNode(version)
  if (old) return old
  try {
    import.meta.resolve('isolated-vm')
  } catch {
    return `isolated-vm is not installed (an install with --omit=optional, or no prebuilt binary for ${process.platform}-${process.arch}): run npm install isolated-vm@7 ` +
      '(prebuilt for Linux x64/arm64, macOS arm64 and Windows x64; elsewhere it builds from source with python3, make and a C++ compiler)'
  }
  return null
}

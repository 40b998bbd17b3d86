/**
 * A 32-bit hash of a file name (FNV-1a over its UTF-16 code units), the same
 * in the host and in the sandbox, where it is injected as source text (so it
 * refers to nothing outside itself). A sandbox keeps a big directory's names
 * as their hashes: a name whose hash is not there is certainly absent.
 */
export function nameHash(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}

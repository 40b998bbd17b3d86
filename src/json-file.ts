/**
 * The small JSON files a node keeps next to its cores (heads it verified, the
 * VMs it hosts and mirrors, its own key). Read: missing is null; a file that
 * does not parse, or is not what `valid` expects, is STORAGE_INVALID with
 * `damaged` (what it is, what to do): read as nothing, it would be forgotten
 * and then written over. Written whole: a file next to it, renamed over it,
 * so a crash leaves the old file or the new one, never half of one.
 * (node:fs is imported when used: the client side, under Bare, never loads it.)
 */
import { VmsError } from './errors.js'

export async function readJsonFile<T>(path: string, valid: (value: unknown) => value is T, damaged: string): Promise<T | null> {
  const { readFile } = await import('node:fs/promises')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = undefined
  }
  if (!valid(value)) throw new VmsError('STORAGE_INVALID', `${path} ${damaged}`)
  return value
}

export async function writeJsonFile(path: string, value: unknown, opts: { mode?: number } = {}): Promise<void> {
  const { writeFile, rename } = await import('node:fs/promises')
  await writeFile(path + '.tmp', JSON.stringify(value, null, 2) + '\n', opts.mode === undefined ? {} : { mode: opts.mode })
  await rename(path + '.tmp', path)
}

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

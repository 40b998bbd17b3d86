/**
 * What a node hosts and mirrors (`vms.json` in its storage): the VMs to serve
 * again and the VMs to mirror again after a restart. One change at a time,
 * each written whole (a file next to it, renamed over it), so a crash
 * mid-write leaves the registry as it was, never half of one. A damaged file
 * is an error that says so: read as empty, it would forget every VM.
 * (node:fs is imported when used: the client side, under Bare, never loads it.)
 */
import { VmsError } from '../errors.js'

/** A hosted VM as the node remembers it; `methods`/`views` as of its last load let a restart reopen it unloaded. */
export interface RegisteredVm { name: string; filename: string; key?: string; methods?: string[]; views?: string[] }

export interface Registry { vms: RegisteredVm[]; mirrors?: string[] }

export class NodeRegistry {
  readonly path: string
  private queue: Promise<unknown> = Promise.resolve()

  constructor(storage: string) {
    this.path = `${storage}/vms.json`
  }

  async read(): Promise<Registry> {
    const { readFile } = await import('node:fs/promises')
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { vms: [] }
      throw err
    }
    try {
      const reg = JSON.parse(text) as Registry
      if (!Array.isArray(reg.vms ?? [])) throw new Error('vms is not a list')
      reg.vms = reg.vms ?? []
      return reg
    } catch {
      throw new VmsError('STORAGE_INVALID', `${this.path} (the VMs this node hosts and mirrors) is damaged: repair it, or move it away and serve the scripts again`)
    }
  }

  /** Apply `change` (which returns whether it changed anything) and save: one change at a time. */
  update(change: (reg: Registry) => boolean): Promise<void> {
    const next = this.queue.catch(() => {}).then(async () => {
      const reg = await this.read()
      if (!change(reg)) return
      const { writeFile, rename } = await import('node:fs/promises')
      await writeFile(this.path + '.tmp', JSON.stringify(reg, null, 2))
      await rename(this.path + '.tmp', this.path)
    })
    this.queue = next
    return next
  }
}

/**
 * What a node hosts and mirrors (`vms.json` in its storage): the VMs to serve
 * again and the VMs to mirror again after a restart. One change at a time,
 * each written whole; a damaged file is an error that says so (read as
 * empty, it would forget every VM).
 */
import type Corestore from 'corestore'
import { readJsonFile, writeJsonFile, isObject } from '../json-file.js'

/**
 * A hosted VM as the node remembers it; `methods`/`views` as of its last load
 * let a restart reopen it unloaded. `own`: the storage's own VM (made by
 * `vms-node create` or `VmHost.create`), whose cores are at the Corestore's
 * root rather than in a namespace of its name.
 */
export interface RegisteredVm { name: string; filename: string; key?: string; methods?: string[]; views?: string[]; /** the script version `methods` are of (1 if absent) */ version?: number; own?: boolean }

export interface Registry { vms: RegisteredVm[]; mirrors?: string[] }

export class NodeRegistry {
  readonly path: string
  private queue: Promise<unknown> = Promise.resolve()

  constructor(storage: string) {
    this.path = `${storage}/vms.json`
  }

  /** Whether the storage has a registry at all (a VM's own storage, made by `create`, has none). */
  async exists(): Promise<boolean> {
    const { access } = await import('node:fs/promises')
    return access(this.path).then(() => true, () => false)
  }

  async read(): Promise<Registry> {
    const reg = await readJsonFile(this.path, (v): v is Partial<Registry> => isObject(v) && Array.isArray(v.vms ?? []),
      '(the VMs this node hosts and mirrors) is damaged: repair it, or move it away and serve the scripts again')
    return { ...reg, vms: reg?.vms ?? [] }
  }

  /** Apply `change` (which returns whether it changed anything) and save: one change at a time. */
  update(change: (reg: Registry) => boolean): Promise<void> {
    const next = this.queue.catch(() => {}).then(async () => {
      const reg = await this.read()
      if (change(reg)) await writeJsonFile(this.path, reg)
    })
    this.queue = next
    return next
  }
}

/** The name a node gives the VM made from script file `filename` (`rsvp.js` → `rsvp`). */
export function vmName(filename: string): string {
  return filename.replace(/\.[cm]?js$/, '') || 'vm'
}

/** Where a node keeps VM `name`: a namespace of its Corestore. */
export function vmNamespace(store: Corestore, name: string): Corestore {
  return store.namespace('vm/' + name)
}

/** Where a registered VM's cores are: the storage's root for its own VM, else its namespace. */
export function vmStore(store: Corestore, vm: { name: string; own?: boolean }): Corestore {
  return vm.own ? store : vmNamespace(store, vm.name)
}

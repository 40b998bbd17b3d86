/**
 * The explorer, served by a gateway at /vm/<key>: what a VM is, its call log
 * (paged, and live), its files, who vouches for it, and a receipt checker.
 *
 * Everything shown comes from the VM (untrusted), so it is put in the page as
 * text only (textContent), never as markup. What the page proves itself (log
 * entries, the genesis, attestations, receipts) is marked so; what it only
 * relays (methods, views, file reads) is marked as the gateway's word.
 */
import type * as Client from '../index.js'

type Gateway = Client.Gateway
type Vm = Client.Vm
type VmInfo = Client.VmInfo
type LogEntry = Client.LogEntry

/**
 * The client, as the gateway serves it to every page (/browser.js): loaded at
 * run time rather than bundled in, so the explorer stays small and shares one
 * cached copy of the client with the gateway's other pages.
 */
let api: typeof Client

const PAGE = 50
/** Files larger than this are not fetched for viewing. */
const MAX_VIEW_BYTES = 1024 * 1024
/** Directory entries listed (each is stat'ed). */
const MAX_LISTED = 500

type Entry = LogEntry & { index: number }
type Child = Node | string | null | undefined | false

// ---------------------------------------------------------------- DOM helpers

/** An element; strings become text nodes (never markup). */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === false) continue
      if (k === 'class') el.className = String(v)
      else el.setAttribute(k, v === true ? '' : String(v))
    }
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (!el) throw new Error(`the page has no #${id}`)
  return el as T
}

function badge(text: string, kind: 'ok' | 'error' | 'warn' | 'verified' | 'word' | 'info' | 'muted', title?: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${kind}`, title }, text)
}

function short(id: string, n = 8): string {
  return id.length > n + 1 ? id.slice(0, n) + '…' : id
}

function hex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

function pad(n: number, w = 2): string { return String(n).padStart(w, '0') }

function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '—'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

function ago(ms: number): string {
  const s = Math.round((Date.now() - ms) / 1000)
  if (s < 5) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} days ago`
}

function formatBytes(n: number): string {
  if (n < 1024) return plural(n, 'byte')
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Canonical JSON bytes as readable text (undefined: empty). */
function jsonText(bytes: Uint8Array): string {
  try {
    const v = api.canonicalDecode(bytes)
    return v === undefined ? '' : JSON.stringify(v)
  } catch {
    return `(${formatBytes(bytes.byteLength)} that do not decode)`
  }
}

/** A call's args (canonical JSON of the array) as `a, b, c`. */
function argsText(bytes: Uint8Array): string {
  try {
    const v = api.canonicalDecode(bytes)
    return Array.isArray(v) ? v.map((a) => a === undefined ? 'undefined' : JSON.stringify(a)).join(', ') : JSON.stringify(v)
  } catch {
    return `(${formatBytes(bytes.byteLength)} that do not decode)`
  }
}

/** LoadReason: CREATE 0, RESTART 1, RECYCLE 2, WAKE 3. */
const LOAD_REASONS: Record<number, string> = { 0: 'create', 1: 'restart', 2: 'recycle', 3: 'wake' }
const LOAD_NOTES: Record<number, string> = {
  0: 'the script starts: init runs',
  1: 'the host restarted the script',
  2: 'the sandbox was recycled',
  3: 'the script woke up'
}

// ---------------------------------------------------------------- state

const status = $('status')
function setStatus(state: 'connecting' | 'connected' | 'live' | 'error' | 'closed', text: string): void {
  status.dataset.state = state
  status.textContent = text
}

let keyBytes: Uint8Array | null = null
let keyId = ''
let gateway: Gateway | null = null
let vm: Vm | null = null
let info: VmInfo | null = null
/** The longest length known: proven by a log proof, or the gateway's word (watch). */
let known = { length: 0, proven: 0 }
/** The page shown: its top (exclusive end), or null for the newest (live). */
let pageTop: number | null = null
let shown = { from: 0, to: 0 }
/** The length when an older page was opened: what came since is offered above it. */
let lengthWhenPaged = 0
let work: Promise<void> = Promise.resolve()

/** Runs one update of the log at a time, in order. */
function serial(fn: () => Promise<void>): Promise<void> {
  work = work.then(fn).catch((err) => showError('the log', err))
  return work
}

function showError(what: string, err: unknown): void {
  const text = errorText(err)
  if (/CONNECTION_LOST/.test(text)) setStatus('closed', 'disconnected from the gateway: reload the page to reconnect')
  else setStatus('error', `error reading ${what}: ${text}`)
}

// ---------------------------------------------------------------- overview

function fact(term: string, ...value: Child[]): HTMLElement[] {
  return [h('dt', null, term), h('dd', null, ...value)]
}

function idChip(id: string, you = false): HTMLElement {
  return h('span', { class: 'id', title: id }, short(id, 10), you && h('span', { class: 'you' }, 'you'))
}

function renderOverview(): void {
  if (!info || !vm) return
  const g = vm.genesis
  const me = gateway?.identity.id
  const proven = $('facts-proven')
  const word = $('facts-word')
  proven.replaceChildren(
    ...fact('Trust', info.trust === 'trustless'
      ? h('span', null, badge('trustless', 'ok'), ' no oracles: a replay checks every call')
      : h('span', null, badge('trusted', 'warn'), ' oracles: ', ...info.oracles.flatMap((o, i) => [i ? ', ' : '', h('code', null, o)]))),
    ...fact('Governance', info.owners.length === 0
      ? h('span', null, badge('immutable', 'info'), ' nobody can change the script')
      : h('span', null, badge('upgradable', 'warn'), ' by ', ...info.owners.flatMap((o, i) => [i ? ', ' : '', idChip(o, o === me)]))),
    ...fact('Script', h('span', null, `version ${info.version}`, h('span', { class: 'muted' }, ` · ${info.scriptFilename}${info.scriptEntry > 0 ? `, from entry #${info.scriptEntry}` : ''}`)),
      h('div', { class: 'mono small', title: hex(info.scriptHash) }, 'hash ', short(hex(info.scriptHash), 16))),
    ...fact('Created', g ? h('span', { title: new Date(g.time).toISOString() }, formatTime(g.time), h('span', { class: 'muted' }, ` · ${ago(g.time)}`)) : '—'),
    ...fact('Files archive', h('span', { class: 'mono small', title: api.formatKey(info.filesKey) }, short(api.formatKey(info.filesKey), 20))),
    ...fact('Limits', g ? h('span', { class: 'small' }, `${g.limits.timeoutMs.toLocaleString()} ms a call · ${g.limits.memoryMb} MB · files up to ${formatBytes(g.limits.maxFileBytes)}`) : '—'),
    ...fact('Log length', h('span', { id: 'proven-length' }, plural(known.proven, 'entry', 'entries')))
  )
  word.replaceChildren(
    ...fact('Methods', chips(info.methods.filter((m) => !info!.views.includes(m)), 'method')),
    ...fact('Views', chips(info.views, 'view')),
    ...fact('Served by', info.host ? h('span', null, badge('host', 'info'), ' the VM\'s own host') : h('span', null, badge('mirror', 'muted'), ' a mirror (the host is offline)')),
    ...fact('Log length', h('span', { id: 'word-length' }, plural(known.length, 'entry', 'entries')), h('span', { class: 'muted small', id: 'live-note' }, ' · live'))
  )
  $('summary').replaceChildren(
    info.trust === 'trustless' ? 'A trustless' : 'A trusted',
    info.owners.length === 0 ? ', immutable VM' : ', upgradable VM',
    ` with ${plural(info.methods.filter((m) => !info!.views.includes(m)).length, 'method')} and ${plural(info.views.length, 'view')}.`
  )
}

function chips(names: string[], kind: string): HTMLElement {
  if (names.length === 0) return h('span', { class: 'muted' }, 'none')
  return h('span', { class: 'chips' }, ...names.map((n) => h('code', { class: `chip chip-${kind}` }, n)))
}

function renderLengths(): void {
  const p = document.getElementById('proven-length')
  if (p) p.textContent = plural(known.proven, 'entry', 'entries')
  const w = document.getElementById('word-length')
  if (w) w.textContent = plural(known.length, 'entry', 'entries')
}

// ---------------------------------------------------------------- call log

function row(e: Entry): HTMLTableRowElement {
  const me = gateway?.identity.id
  const tr = h('tr', { 'data-index': e.index, class: `entry entry-${api.EntryType[e.type]?.toLowerCase() ?? 'unknown'}` })
  const cell = (cls: string, ...c: Child[]) => h('td', { class: cls }, ...c)
  const time = 'time' in e ? e.time : 0
  const timeCell = cell('c-time', h('span', { title: time ? `${new Date(time).toISOString()} (${ago(time)})` : '' }, formatTime(time)))
  const filesCell = cell('c-files num', h('span', { title: `files archive at db length ${e.files.dbLength}, blobs length ${e.files.blobsLength}` }, String(e.files.dbLength)))
  const idx = cell('c-index num', `#${e.index}`)
  switch (e.type) {
    case api.EntryType.CALL: {
      const caller = api.formatKey(e.publicKey)
      const args = argsText(e.args)
      const o = e.outcome
      let outcome: HTMLElement
      if (o.ok) {
        const v = jsonText(o.value)
        outcome = h('span', null, badge('ok', 'ok'), v ? h('span', { class: 'value mono' }, ' ', v) : null)
      } else if (o.limit) {
        outcome = h('span', null, badge('limit', 'warn'), ' ', h('span', { class: 'value' }, o.error ? `${o.error.code || o.error.name}: ${o.error.message}` : 'hit a limit'))
      } else {
        outcome = h('span', null, badge('error', 'error'), ' ', h('span', { class: 'value' }, o.error ? `${o.error.code || o.error.name}: ${o.error.message}` : 'failed'))
      }
      tr.append(idx, timeCell,
        cell('c-caller', idChip(caller, caller === me)),
        cell('c-method', h('code', { class: 'method' }, e.method)),
        cell('c-args mono', h('span', { class: 'clip', title: args }, args)),
        cell('c-outcome', h('span', { class: 'clip' }, outcome)),
        filesCell)
      break
    }
    case api.EntryType.GENESIS: {
      const owners = e.governance?.owners ?? []
      tr.append(idx, timeCell,
        cell('c-caller', h('span', { class: 'muted' }, '—')),
        cell('c-method', badge('genesis', 'info'), ' ', h('span', { class: 'muted' }, e.filename)),
        cell('c-args', h('span', { class: 'clip' }, `script v1 · ${short(hex(scriptHashOf(e)), 12)}`,
          owners.length ? ` · upgradable by ${owners.map((o) => short(api.formatKey(o))).join(', ')}` : ' · immutable',
          e.oracles.length ? ` · oracles ${e.oracles.join(', ')}` : '')),
        cell('c-outcome', h('span', { class: 'muted' }, 'the VM is made')),
        filesCell)
      break
    }
    case api.EntryType.LOAD: {
      tr.append(idx, timeCell,
        cell('c-caller', h('span', { class: 'muted' }, '—')),
        cell('c-method', badge(`load · ${LOAD_REASONS[e.reason] ?? e.reason}`, 'muted')),
        cell('c-args', h('span', { class: 'clip muted', title: e.note }, e.note || LOAD_NOTES[e.reason] || 'the script is loaded')),
        cell('c-outcome', e.outcome.ok ? badge('ok', 'ok') : h('span', null, badge('error', 'error'), ' ', h('span', { class: 'value' }, e.outcome.error?.message ?? ''))),
        filesCell)
      break
    }
    case api.EntryType.UPGRADE: {
      const owner = api.formatKey(e.owner)
      tr.append(idx, timeCell,
        cell('c-caller', idChip(owner, owner === me)),
        cell('c-method', badge(`upgrade → v${e.version}`, 'warn'), ' ', h('span', { class: 'muted' }, e.filename)),
        cell('c-args', h('span', { class: 'clip' }, `script v${e.version} · ${short(hex(scriptHashOf(e)), 12)} · replaces entry #${e.previous}`)),
        cell('c-outcome', e.outcome.ok ? badge('ok', 'ok') : h('span', null, badge('error', 'error'), ' ', h('span', { class: 'value' }, e.outcome.error?.message ?? ''))),
        filesCell)
      break
    }
  }
  tr.title = 'click to show it all'
  tr.addEventListener('click', (ev) => {
    if ((ev.target as HTMLElement).closest('a, button')) return
    if (window.getSelection()?.toString()) return
    tr.classList.toggle('open')
  })
  return tr
}

/** A script's hash, as the VM key's log names the version (hashed in the page). */
const hashes = new WeakMap<object, Uint8Array>()
function scriptHashOf(e: { script: string }): Uint8Array {
  let v = hashes.get(e)
  if (!v) { v = api.scriptHash(e.script); hashes.set(e, v) }
  return v
}

/** Entries [from, to), proven, in as many requests as it takes (the gateway sends at most 256 at a time). */
async function fetchEntries(from: number, to: number): Promise<Entry[]> {
  const out: Entry[] = []
  while (from < to) {
    const r = await vm!.log(from, Math.min(to, from + 256))
    noteLength(r.length, true)
    out.push(...r.entries)
    from += r.entries.length
  }
  return out
}

function noteLength(length: number, proven: boolean): void {
  if (proven) known.proven = Math.max(known.proven, length)
  known.length = Math.max(known.length, length, known.proven)
  renderLengths()
}

async function showPage(top: number | null): Promise<void> {
  const end = Math.min(top ?? known.length, known.length)
  const from = Math.max(0, end - PAGE)
  const entries = await fetchEntries(from, end)
  pageTop = top === null || end >= known.length ? null : end
  lengthWhenPaged = known.length
  shown = { from, to: from + entries.length }
  $('log').replaceChildren(...entries.reverse().map(row))
  $('log-empty').hidden = entries.length > 0
  renderPager()
}

/** On the newest page: the entries past the top, added above it (and the oldest let go past a page). */
async function showNew(): Promise<void> {
  if (pageTop !== null || shown.to >= known.length) return renderPager()
  const entries = await fetchEntries(shown.to, known.length)
  if (pageTop !== null) return renderPager()
  const body = $('log')
  for (const e of entries) {
    const tr = row(e)
    tr.classList.add('fresh')
    body.prepend(tr)
  }
  shown.to += entries.length
  while (body.children.length > PAGE) body.lastElementChild!.remove()
  shown.from = Math.max(shown.from, shown.to - PAGE)
  $('log-empty').hidden = body.children.length > 0
  renderPager()
}

function renderPager(): void {
  const range = $('log-range')
  range.textContent = shown.to > shown.from
    ? `entries ${shown.to - 1} – ${shown.from}, newest first · ${plural(known.length, 'entry', 'entries')} in all`
    : `${plural(known.length, 'entry', 'entries')}`
  ;($('newer') as HTMLButtonElement).disabled = pageTop === null
  ;($('newest') as HTMLButtonElement).disabled = pageTop === null
  ;($('older') as HTMLButtonElement).disabled = shown.from === 0
  const behind = pageTop === null ? 0 : known.length - lengthWhenPaged
  const note = $('log-behind')
  note.hidden = behind <= 0
  note.textContent = behind > 0 ? `${plural(behind, 'new entry', 'new entries')} since you opened this page: show the newest` : ''
  $('live').hidden = pageTop !== null
}

function setupPager(): void {
  $('newer').addEventListener('click', () => serial(() => showPage(shown.to + PAGE >= known.length ? null : shown.to + PAGE)))
  $('older').addEventListener('click', () => serial(() => showPage(shown.from)))
  $('newest').addEventListener('click', () => serial(() => showPage(null)))
  $('log-behind').addEventListener('click', () => serial(() => showPage(null)))
  $('goto').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const input = $<HTMLInputElement>('goto-index')
    const n = Number(input.value)
    if (!Number.isInteger(n) || n < 0) return
    const top = Math.min(known.length, n + Math.ceil(PAGE / 2))
    serial(async () => {
      await showPage(top >= known.length ? null : Math.max(top, Math.min(PAGE, known.length)))
      const tr = $('log').querySelector(`tr[data-index="${n}"]`)
      if (tr) { tr.classList.add('open', 'fresh'); tr.scrollIntoView({ block: 'center', behavior: 'smooth' }) }
    })
  })
}

// ---------------------------------------------------------------- files

let filesPath = '/'
let viewing: string | null = null
let filesTimer: ReturnType<typeof setTimeout> | null = null

/** The files change with calls: list the open directory again, a moment after the log grows. */
function refreshFilesSoon(): void {
  if (filesTimer) clearTimeout(filesTimer)
  filesTimer = setTimeout(() => { openDir(filesPath, true).catch(filesError) }, 400)
}

function joinPath(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + name
}

async function openDir(path: string, again = false): Promise<void> {
  filesPath = path
  const crumbs = $('files-path')
  const parts = path.split('/').filter(Boolean)
  const crumb = (label: string, to: string) => {
    const b = h('button', { class: 'crumb', type: 'button' }, label)
    b.addEventListener('click', () => { openDir(to).catch((err) => filesError(err)) })
    return b
  }
  crumbs.replaceChildren(crumb('/', '/'), ...parts.flatMap((p, i) => [crumb(p, '/' + parts.slice(0, i + 1).join('/')), h('span', { class: 'sep' }, '/')]))
  const list = $('files-list')
  if (!again) {
    list.replaceChildren(h('li', { class: 'muted' }, 'reading…'))
    $('files-view').hidden = true
    viewing = null
  }
  const names = (await vm!.files.readdir(path)).slice().sort()
  if (filesPath !== path) return
  if (names.length === 0) {
    list.replaceChildren(h('li', { class: 'muted empty' }, path === '/' ? 'The archive is empty: no call has written a file yet.' : 'An empty directory.'))
    return
  }
  const items = names.slice(0, MAX_LISTED).map((name) => {
    const full = joinPath(path, name)
    const btn = h('button', { class: full === viewing ? 'file selected' : 'file', type: 'button', 'data-path': full }, h('span', { class: 'icon' }, '·'), h('span', { class: 'name' }, name), h('span', { class: 'meta' }, ''))
    return { name, full, btn, li: h('li', null, btn) }
  })
  list.replaceChildren(...items.map((i) => i.li))
  if (names.length > MAX_LISTED) list.append(h('li', { class: 'muted' }, `… and ${plural(names.length - MAX_LISTED, 'more entry', 'more entries')} (the first ${MAX_LISTED} are shown)`))
  // stat each (a few at a time), to tell directories from files and show sizes
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const it = items[next++]!
      const st = await vm!.files.stat(it.full).catch(() => null)
      if (filesPath !== path) return
      const dir = st?.isDirectory === true
      it.btn.classList.add(dir ? 'is-dir' : 'is-file')
      it.btn.querySelector('.icon')!.textContent = dir ? '▸' : '▫'
      it.btn.querySelector('.meta')!.textContent = dir ? 'folder' : st ? formatBytes(st.size) : ''
      it.btn.addEventListener('click', () => {
        for (const b of list.querySelectorAll('.file.selected')) b.classList.remove('selected')
        if (dir) openDir(it.full).catch((err) => filesError(err))
        else { it.btn.classList.add('selected'); viewing = it.full; viewFile(it.full, st?.size ?? null).catch((err) => filesError(err)) }
      })
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
}

async function viewFile(path: string, size: number | null): Promise<void> {
  const view = $('files-view')
  view.hidden = false
  const title = h('div', { class: 'view-head' }, h('code', null, path), size !== null ? h('span', { class: 'muted' }, ` · ${formatBytes(size)}`) : null)
  if (size !== null && size > MAX_VIEW_BYTES) {
    view.replaceChildren(title, h('p', { class: 'muted' }, `Too large to show here (${formatBytes(size)}).`))
    return
  }
  view.replaceChildren(title, h('p', { class: 'muted' }, 'reading…'))
  const data = await vm!.files.readFile(path) as Uint8Array
  let text: string | null = null
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(data) } catch { text = null }
  if (text !== null && /[\u0000-\u0008\u000e-\u001f]/.test(text)) text = null
  if (text === null) {
    view.replaceChildren(title, h('p', { class: 'muted' }, `Binary: ${formatBytes(data.byteLength)}.`), h('pre', { class: 'content hex' }, hexDump(data.subarray(0, 256)) + (data.byteLength > 256 ? '\n…' : '')))
    return
  }
  let shownText = text
  if (/\.json$/i.test(path)) {
    try { shownText = JSON.stringify(JSON.parse(text), null, 2) } catch { /* as it is */ }
  }
  view.replaceChildren(title, h('pre', { class: 'content' }, shownText || '(empty)'))
}

function hexDump(b: Uint8Array): string {
  const lines: string[] = []
  for (let i = 0; i < b.length; i += 16) lines.push(pad(i, 4) + '  ' + hex(b.subarray(i, i + 16)).replace(/(..)/g, '$1 ').trim())
  return lines.join('\n')
}

function filesError(err: unknown): void {
  $('files-list').replaceChildren(h('li', { class: 'error-text' }, errorText(err)))
}

// ---------------------------------------------------------------- attestations

async function showVouchers(index: number | null): Promise<void> {
  const out = $('vouchers-list')
  out.replaceChildren(h('p', { class: 'muted' }, 'asking…'))
  // Index 0: every attestation (each covers the genesis), with the furthest each auditor went.
  const at = index ?? 0
  const r = await vm!.vouchers(at)
  const total = Math.max(known.length, 1)
  if (r.count === 0) {
    out.replaceChildren(h('p', { class: 'empty muted' }, index === null
      ? 'No auditor vouches for this VM yet. Anyone can audit it by replaying its log: '
      : `No auditor vouches for entry #${index} yet. Anyone can audit it by replaying its log: `,
    h('code', null, `vms-node audit ${keyId}`)))
    return
  }
  const list = h('ul', { class: 'auditors' }, ...r.auditors.sort((a, b) => b.length - a.length).map((a) => h('li', null,
    h('div', { class: 'auditor-head' }, idChip(a.id), badge('verified', 'verified', 'its signature and the log\'s tree hash at its length were checked in this page')),
    h('div', { class: 'small' }, `vouches for entries 0 – ${a.length - 1}`, a.length < known.length ? h('span', { class: 'muted' }, ` (${plural(known.length - a.length, 'entry', 'entries')} since)`) : null),
    h('div', { class: 'bar' }, h('span', { style: `width:${Math.min(100, (a.length / total) * 100).toFixed(1)}%` })))))
  out.replaceChildren(h('p', { class: 'small' }, index === null
    ? `${plural(r.count, 'auditor')} replayed this VM's log and ${r.count === 1 ? 'vouches' : 'vouch'} for it:`
    : `${plural(r.count, 'auditor')} ${r.count === 1 ? 'vouches' : 'vouch'} for entry #${index}:`), list)
}

function setupVouchers(): void {
  $('vouchers-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const v = $<HTMLInputElement>('vouchers-index').value.trim()
    const n = v === '' ? null : Number(v)
    if (n !== null && (!Number.isInteger(n) || n < 0)) return
    showVouchers(n).catch((err) => $('vouchers-list').replaceChildren(h('p', { class: 'error-text' }, errorText(err))))
  })
}

// ---------------------------------------------------------------- receipts

function setupReceipts(): void {
  const result = $('receipt-result')
  const check = () => {
    const text = $<HTMLTextAreaElement>('receipt').value
    result.className = 'receipt-result'
    if (!text.trim()) {
      result.replaceChildren(h('p', { class: 'muted' }, 'Paste a receipt first (the hex that `vms-node call --json` prints as receipt.hex).'))
      return
    }
    if (!keyBytes) {
      result.replaceChildren(h('p', { class: 'muted' }, 'The page is still starting (or this address names no VM key): try again in a moment.'))
      return
    }
    try {
      const receipt = api.decodeReceipt(text)
      const entry = api.verifyReceiptEntry(keyBytes, receipt)
      const covered = api.signedLength(receipt)
      const lines: HTMLElement[] = [
        h('div', { class: 'verdict' }, badge('✓ verified', 'verified'), ` entry #${receipt.index} is in this VM's log, under its signature (which covers the first ${plural(covered, 'entry', 'entries')}).`)
      ]
      const dl = h('dl', { class: 'facts compact' })
      const add = (t: string, ...v: Child[]) => dl.append(...fact(t, ...v))
      add('Entry', `#${receipt.index}`)
      if (entry.type === api.EntryType.CALL) {
        const caller = api.formatKey(entry.publicKey)
        add('Method', h('code', { class: 'method' }, entry.method))
        add('Args', h('span', { class: 'mono' }, argsText(entry.args) || '(none)'))
        add('Caller', idChip(caller, caller === gateway?.identity.id))
        add('Time', formatTime(entry.time))
        const o = entry.outcome
        add('Outcome', o.ok
          ? h('span', null, badge('ok', 'ok'), ' ', h('span', { class: 'mono' }, jsonText(o.value) || '(no value)'))
          : h('span', null, badge(o.limit ? 'limit' : 'error', o.limit ? 'warn' : 'error'), ' ', o.error ? `${o.error.code || o.error.name}: ${o.error.message}` : ''))
        add('Files version', String(entry.files.dbLength))
      } else {
        add('Kind', api.EntryType[entry.type]?.toLowerCase() ?? String(entry.type))
        if ('time' in entry) add('Time', formatTime(entry.time))
      }
      lines.push(dl)
      result.classList.add('is-verified')
      result.replaceChildren(...lines)
    } catch (err) {
      result.classList.add('is-bad')
      result.replaceChildren(h('div', { class: 'verdict' }, badge('✗ does not verify', 'error')), h('p', { class: 'error-text' }, errorText(err)))
    }
  }
  $('check').addEventListener('click', check)
  $('receipt').addEventListener('keydown', (ev) => {
    if ((ev as KeyboardEvent).key === 'Enter' && ((ev as KeyboardEvent).ctrlKey || (ev as KeyboardEvent).metaKey)) check()
  })
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  setupPager()
  setupVouchers()
  setupReceipts()
  try {
    api = await import(new URL('/browser.js', location.href).href) as typeof Client
  } catch (err) {
    setStatus('error', `cannot load the client (/browser.js): ${errorText(err)}`)
    return
  }
  const m = /^\/vm\/([^/]+)\/?$/.exec(location.pathname)
  try {
    if (!m) throw new Error('this page is /vm/<key>')
    keyBytes = api.toKey(decodeURIComponent(m[1]!))
  } catch (err) {
    setStatus('error', `not a VM key: ${errorText(err)}`)
    return
  }
  keyId = api.formatKey(keyBytes)
  $('vm-key').textContent = keyId
  document.title = `VM ${short(keyId, 10)} · vms-node explorer`
  setStatus('connecting', 'connecting to the gateway…')
  try {
    gateway = await api.connect()
    gateway.onclose = (reason) => setStatus('closed', `disconnected from the gateway (${reason}): reload the page to reconnect`)
    setStatus('connecting', 'dialling the VM…')
    vm = await gateway.dial(keyBytes)
    info = await vm.info()
  } catch (err) {
    setStatus('error', `cannot reach this VM: ${errorText(err)}`)
    return
  }
  noteLength(info.length, false)
  noteLength(1, true) // the genesis, proven by info()
  renderOverview()
  setStatus('connected', 'connected')
  await serial(() => showPage(null))
  vm.watch((length) => {
    if (length <= known.length) return
    noteLength(length, false)
    serial(showNew)
    refreshFilesSoon()
  }, (err) => { if (status.dataset.state === 'live') setStatus('connected', `connected · not live (${errorText(err)})`) })
  if (status.dataset.state === 'connected') setStatus('live', 'connected · live')
  openDir('/').catch(filesError)
  showVouchers(null).catch((err) => $('vouchers-list').replaceChildren(h('p', { class: 'error-text' }, errorText(err))))
}

start().catch((err) => setStatus('error', errorText(err)))

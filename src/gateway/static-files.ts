/**
 * What the gateway serves over HTTP: the browser client (`/browser.js`), the
 * explorer (`/vm/<key>` and its script and style), and, if given, a folder of
 * pages at `/` (a web app, as examples/party). Nothing else: a path that
 * leaves the folder, or names nothing, is 404.
 */
import { readFile, stat } from 'node:fs/promises'
import { join, resolve, extname, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The bundles `npm run build` makes (dist/browser). */
export const BROWSER_DIR = fileURLToPath(new URL('../../browser/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json'
}

/** Fixed routes to the gateway's own files. */
const OWN: Record<string, string> = {
  '/browser.js': 'vms-node.js',
  '/browser.js.map': 'vms-node.js.map',
  '/explorer.js': 'explorer.js',
  '/explorer.js.map': 'explorer.js.map',
  '/explorer.css': 'explorer.css'
}

const VM_PAGE = /^\/vm\/[0-9a-z]{52,64}\/?$/

export async function serveStatic(req: IncomingMessage, res: ServerResponse, pages: string | null): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n')
  const path = decodeURIComponentSafe(new URL(req.url ?? '/', 'http://x').pathname)
  if (path === null) return send(res, 400, 'text/plain; charset=utf-8', 'a malformed path\n')
  if (OWN[path]) return sendFile(res, join(BROWSER_DIR, OWN[path]), req.method === 'HEAD')
  if (VM_PAGE.test(path)) return sendFile(res, join(BROWSER_DIR, 'explorer.html'), req.method === 'HEAD')
  if (pages) {
    const root = resolve(pages)
    const file = resolve(root, '.' + path)
    if (file !== root && !file.startsWith(root + sep)) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n')
    const target = await stat(file).then((s) => s.isDirectory() ? join(file, 'index.html') : file, () => null)
    if (target) return sendFile(res, target, req.method === 'HEAD')
  } else if (path === '/') {
    return send(res, 200, TYPES['.html']!, INDEX)
  }
  send(res, 404, 'text/plain; charset=utf-8', 'not found\n')
}

const INDEX = `<!doctype html><meta charset="utf-8"><title>vms-node gateway</title>
<link rel="stylesheet" href="/explorer.css">
<main class="narrow"><h1>vms-node gateway</h1>
<p>Open a VM by its key: <code>/vm/&lt;key&gt;</code>.</p>
<form onsubmit="location.href='/vm/'+this.key.value.trim();return false"><input name="key" placeholder="VM key" size="56" autofocus> <button>Open</button></form>
<p>Web pages use <code>import { connect } from '/browser.js'</code>.</p></main>`

async function sendFile(res: ServerResponse, file: string, head: boolean): Promise<void> {
  let body: Buffer
  try {
    body = await readFile(file)
  } catch {
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n')
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.byteLength, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
  res.end(head ? undefined : body)
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function decodeURIComponentSafe(s: string): string | null {
  try { return decodeURIComponent(s) } catch { return null }
}

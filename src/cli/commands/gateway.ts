import { command, flag, summary, description } from 'paparam'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { VmsNode } from '../../node/vms-node.js'
import { Gateway } from '../../gateway/gateway.js'
import { VmsError } from '../../errors.js'
import { chooseDht } from '../config.js'
import { fail } from '../fail.js'
import { wholeFlag, netFlags } from '../flags.js'
import { stopSignal, untilStopped } from '../stop-signal.js'

export const gatewayCmd = command(
  'gateway',
  summary('Serve web pages: relay their calls and reads over the swarm, and an explorer at /vm/<key>'),
  description('Pages sign their calls and check every receipt themselves (vms-node/browser, or /browser.js here): the gateway holds no caller\'s keys.\nIt listens on loopback unless given --host, and takes WebSockets from its own origin unless given --origin.'),
  flag('--port <port>', 'the HTTP and WebSocket port (default 8080)'),
  flag('--host <address>', 'the address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)'),
  flag('--origin <origin>', 'also allow pages from this origin, say http://localhost:3000, or * for any (repeatable)').multiple(),
  flag('--pages <dir>', 'a folder of pages to serve at / (a web app)'),
  ...netFlags,
  async () => {
    const flags = gatewayCmd.flags
    const port = wholeFlag(flags.port, '--port', 0, '8080', 65535) ?? 8080
    const origins: string[] = flags.origin === undefined ? [] : ([] as string[]).concat(flags.origin)
    for (const o of origins) if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) fail(`--origin ${o} is not an origin: give scheme://host[:port], say http://localhost:3000, or *`)
    const pages = flags.pages ? resolve(flags.pages) : undefined
    if (pages && !(await stat(pages).then((s) => s.isDirectory(), () => false))) fail(`--pages ${flags.pages} is not a folder`)
    const json = !!flags.json
    const stopped = stopSignal()
    const dht = await chooseDht(flags)
    // A gateway keeps nothing of its own: its replicas live in a temporary folder.
    const storage = await mkdtemp(join(tmpdir(), 'vms-gateway-'))
    const node = new VmsNode({ storage, bootstrap: dht.bootstrap })
    const gateway = new Gateway(node, { port, host: flags.host, origins, pages })
    try {
      await gateway.ready()
    } catch (err) {
      await node.close()
      await rm(storage, { recursive: true, force: true })
      await dht.local?.destroy()
      fail(err instanceof VmsError ? err.message : (err as Error).message)
    }
    if (json) console.log(JSON.stringify({ event: 'gateway', url: gateway.url, dht: dht.describe }))
    else console.log(`vms-node gateway ${gateway.url}\n  explorer  ${gateway.url}/vm/<key>\n  pages     ${pages ?? '(none: --pages DIR)'}; the browser client at ${gateway.url}/browser.js\n  on the ${dht.describe}; Ctrl-C to stop`)
    await untilStopped(stopped, json, 'closing sockets, leaving the DHT')
    await gateway.close()
    await node.close()
    await rm(storage, { recursive: true, force: true })
    await dht.local?.destroy()
    if (json) console.log(JSON.stringify({ event: 'stopped' }))
  }
)

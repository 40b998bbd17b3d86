import test from 'brittle'
import b4a from 'b4a'
import { Identity, replay, EntryType, encode, logEntry, decodeEntry } from '../src/index.js'
import { testnet, node } from './helpers/net.js'
import { createHost, rawEntries } from './helpers/index.js'

const SCRIPT = `
exports.init = async () => { await System.files.mkdir('/quotes') }
exports.quote = async (sym) => {
  const q = await System.oracles.stock(sym)
  await System.files.writeFile('/quotes/' + sym, JSON.stringify(q))
  return q.price * 2
}
exports.careful = async (sym) => {
  try { return await System.oracles.stock(sym) } catch (err) { return 'oracle said: ' + err.code }
}`

function prices(): { stock: (sym: string) => Promise<unknown> } {
  return {
    stock: async (sym: string) => {
      if (sym === 'FAIL') throw new Error('market closed')
      if (sym === 'SLOW') return new Promise(() => {})
      return { sym, price: sym.length * 10 }
    }
  }
}

test('oracles: outputs are logged, and replay, with no oracle at hand, checks out from them', async (t) => {
  const { host } = await createHost(t, SCRIPT, { oracles: { stock: prices().stock }, oracleTimeoutMs: 300 })
  t.alike(host.genesis!.oracles, ['stock'], 'the genesis declares the oracle')
  const alice = Identity.generate()
  t.is((await host.call(alice.sign(host.key, 'quote', ['GOOGL']))).result, 100)
  t.is((await host.call(alice.sign(host.key, 'careful', ['FAIL']))).result, 'oracle said: ORACLE_FAILED', 'a failing oracle is an outcome the script sees')
  t.is((await host.call(alice.sign(host.key, 'careful', ['SLOW']))).result, 'oracle said: ORACLE_TIMEOUT')
  const failed = await host.call(alice.sign(host.key, 'quote', ['FAIL'])).catch((e: { code: string }) => e)
  t.is((failed as { code: string }).code, 'CALL_FAILED', 'an uncaught oracle failure fails the call; its writes are discarded')
  t.is(await host.drive.get('/quotes/FAIL'), null)
  const log = host.log
  const entry = decodeEntry((await log.get(2))!, 2)
  if (entry.type !== EntryType.CALL) return t.fail('expected a call')
  t.is(entry.oracles.length, 1)
  t.is(entry.oracles[0]!.name, 'stock')
  t.is(b4a.toString(entry.oracles[0]!.input), '["GOOGL"]')
  t.is(b4a.toString(entry.oracles[0]!.output), '{"ok":{"price":50,"sym":"GOOGL"}}')

  const report = await replay(host.logAndFiles())
  t.ok(report.ok, JSON.stringify(report.divergence))
})

test('oracles: a host that changes an oracle output after the fact is caught', async (t) => {
  const { host } = await createHost(t, SCRIPT, { oracles: { stock: prices().stock } })
  await host.call(Identity.generate().sign(host.key, 'quote', ['AAPL']))
  await host.call(Identity.generate().sign(host.key, 'quote', ['MSFT']))
  const log = host.log
  const i = 2
  const all = await rawEntries(log)
  const e = decodeEntry(all[i]!, i)
  if (e.type !== EntryType.CALL) return t.fail('expected a call')
  const forged = { ...e, oracles: [{ ...e.oracles[0]!, output: b4a.from('{"ok":{"price":9999,"sym":"AAPL"}}') }] }
  await log.truncate(i)
  await log.append([encode(logEntry, forged), ...all.slice(i + 1)])
  const report = await replay(host.logAndFiles(), { checkTrailing: false })
  t.is(report.divergence?.class, 'result-differs')
  t.is(report.divergence?.index, i)
})

test('oracles: info and handles say the VM is trusted; a volunteer audits it clean without the oracle', async (t) => {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(SCRIPT, { name: 'quotes', oracles: { stock: prices().stock } })
  const h = await (await node(t, net)).dial(vm.key)
  const info = await h.info()
  t.is(info.trust, 'trusted')
  t.alike(info.oracles, ['stock'])
  t.is(await h.quote!('IBM'), 60)
  const report = await (await node(t, net)).audit(vm.key)
  t.ok(report.ok)
  t.is(report.calls, 1)
})

// Bob's party: RSVP to the rsvp.js VM (examples/rsvp.js) through the gateway
// that served this page, and read the guest list from the VM's files archive.
// The VM's key comes from the address: /?vm=<key>.
//
// What the VM sends back is shown as text only (textContent), never as markup.
import { connect } from '/browser.js'

const $ = (id) => document.getElementById(id)
const status = $('status')
const yes = $('yes')
const no = $('no')
const reasonInput = $('reason')

let gateway = null
let vm = null
let busy = false

function setStatus (state, text) {
  status.dataset.state = state
  status.textContent = text
}

function el (tag, cls, ...children) {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c)
  return e
}

function short (id) {
  return id.length > 10 ? id.slice(0, 8) + '…' : id
}

function errorText (err) {
  if (!(err instanceof Error)) return String(err)
  const code = typeof err.code === 'string' ? err.code : ''
  return code && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message
}

/** A soft color of its own for each guest, from their id. */
function hue (id) {
  let h = 0
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0
  return h % 360
}

function setButtons (enabled) {
  yes.disabled = !enabled
  no.disabled = !enabled
}

async function rsvp (isAttending) {
  if (!vm || busy) return
  busy = true
  setButtons(false)
  const reason = reasonInput.value.trim()
  setStatus('busy', isAttending ? 'Sending your yes…' : 'Sending your no…')
  try {
    const { receipt } = await vm.callWithReceipt('RSVP', isAttending, reason)
    setStatus('ok', `${isAttending ? 'See you there!' : 'Maybe next time.'} Your RSVP is entry #${receipt.index} of the VM's log, and its receipt checked out in this page.`)
    await refreshGuests()
  } catch (err) {
    setStatus('error', `Your RSVP did not go through: ${errorText(err)}`)
  } finally {
    busy = false
    setButtons(true)
  }
}

let refreshing = null
let again = false

/** Read the guest list again (once at a time; one more if asked meanwhile). */
function refreshGuests () {
  if (refreshing) { again = true; return refreshing }
  refreshing = (async () => {
    do {
      again = false
      await readGuests()
    } while (again)
  })().finally(() => { refreshing = null })
  return refreshing
}

async function readGuests () {
  const list = $('guests')
  let guests
  try {
    const names = await vm.files.readdir('/rsvps')
    guests = await Promise.all(names.filter((n) => n.endsWith('.json')).map(async (name) => {
      const id = name.slice(0, -'.json'.length)
      try {
        const rsvp = JSON.parse(await vm.files.readFile(`/rsvps/${name}`, 'utf8'))
        return { id, isAttending: rsvp?.isAttending === true, reason: typeof rsvp?.reason === 'string' ? rsvp.reason : '' }
      } catch (err) {
        return { id, isAttending: null, reason: '', error: errorText(err) }
      }
    }))
  } catch (err) {
    list.replaceChildren(el('li', 'guest guest-error', `Could not read the guest list: ${errorText(err)}`))
    return
  }
  const me = gateway.identity.id
  const rank = (g) => g.id === me ? 0 : g.isAttending === true ? 1 : g.isAttending === false ? 2 : 3
  guests.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id))

  list.replaceChildren(...guests.map((g) => {
    const li = el('li', 'guest' + (g.id === me ? ' mine' : ''))
    li.dataset.id = g.id
    li.dataset.attending = String(g.isAttending)
    const avatar = el('span', 'avatar', g.id.slice(0, 1).toUpperCase())
    avatar.style.setProperty('--h', String(hue(g.id)))
    avatar.setAttribute('aria-hidden', 'true')
    const who = el('span', 'who', el('span', 'gid', short(g.id)))
    who.title = g.id
    if (g.id === me) who.append(el('span', 'you', 'you'))
    const answer = g.isAttending === true
      ? el('span', 'answer coming', 'coming')
      : g.isAttending === false ? el('span', 'answer not-coming', 'not coming') : el('span', 'answer unknown', 'unreadable')
    const reason = g.error
      ? el('span', 'reason error-text', g.error)
      : g.reason ? el('q', 'reason', g.reason) : el('span', 'reason none', 'no reason given')
    li.append(avatar, el('span', 'body', el('span', 'line', who, answer), reason))
    return li
  }))
  $('guests-empty').hidden = guests.length > 0
  const coming = guests.filter((g) => g.isAttending === true).length
  const notComing = guests.filter((g) => g.isAttending === false).length
  $('counts').textContent = guests.length ? `${coming} coming · ${notComing} not coming` : ''

  const mine = guests.find((g) => g.id === me)
  const mineEl = $('mine')
  mineEl.hidden = !mine
  if (mine) {
    mineEl.replaceChildren(
      mine.isAttending ? 'You said you are coming' : 'You said you can\'t make it',
      mine.reason ? el('span', null, ': ', el('q', null, mine.reason)) : '',
      '. You can change your answer.'
    )
    if (!reasonInput.value && document.activeElement !== reasonInput) reasonInput.value = mine.reason
  }
}

async function start () {
  yes.addEventListener('click', () => rsvp(true))
  no.addEventListener('click', () => rsvp(false))
  $('rsvp-form').addEventListener('submit', (ev) => { ev.preventDefault(); rsvp(true) })

  const key = new URLSearchParams(location.search).get('vm')
  if (!key) {
    setStatus('error', 'This page needs the party\'s VM key in its address: /?vm=<key> (`npm run demo:web` prints it).')
    return
  }
  $('explorer').href = `/vm/${encodeURIComponent(key.trim())}`
  setStatus('connecting', 'Connecting to the gateway…')
  try {
    gateway = await connect()
    gateway.onclose = (reason) => { setButtons(false); setStatus('error', `Disconnected from the gateway (${reason}): reload the page.`) }
    setStatus('connecting', 'Finding the party…')
    vm = await gateway.dial(key.trim())
  } catch (err) {
    setStatus('error', `Cannot reach the party: ${errorText(err)}`)
    return
  }
  $('explorer').href = `/vm/${vm.id}`
  setButtons(true)
  setStatus('ready', `Connected. You are ${short(gateway.identity.id)} (a key kept in this browser).`)
  await refreshGuests()
  // Someone else answered: read the list again.
  let timer = null
  vm.watch(() => {
    clearTimeout(timer)
    timer = setTimeout(() => { refreshGuests() }, 250)
  })
}

start().catch((err) => setStatus('error', errorText(err)))

// The RSVP service: everyone with a key can say whether they come, and why.
exports.init = async () => {
  await System.files.mkdir('/rsvps')
}

exports.RSVP = async (isAttending, reason = '') => {
  if (typeof isAttending !== 'boolean') throw new TypeError('isAttending must be true or false')
  await System.files.writeFile(`/rsvps/${System.caller.id}.json`, JSON.stringify({ isAttending, reason: String(reason) }))
}

exports.listRSVPs = async () => {
  const out = {}
  for (const name of await System.files.readdir('/rsvps')) {
    out[name.replace(/\.json$/, '')] = JSON.parse(await System.files.readFile(`/rsvps/${name}`, 'utf8'))
  }
  return out
}

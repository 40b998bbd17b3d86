// Uses an oracle: serve with  vms-node serve examples/stamped.js --oracle clock=./examples/oracles/clock.js
exports.stamp = async (note) => {
  const at = await System.oracles.clock()
  await System.files.writeFile(`/stamps/${System.caller.id}.json`, JSON.stringify({ note, at }))
  return at
}

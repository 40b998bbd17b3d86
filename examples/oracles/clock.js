// An oracle: the host's wall clock, as scripts cannot read it (their Date is the logged call time).
// Its answers are logged, so replays see them; the VM is marked trusted.
export default async function clock () {
  return new Date().toISOString()
}

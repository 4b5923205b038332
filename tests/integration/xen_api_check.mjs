// tests/integration/xen_api_check.mjs - drives atolld with Xen Orchestra's xen-api connector
// (npm xen-api@4.7.6) the way XO does: connect, fetch every object through get_all_records and
// event.from, barrier, setField, Async calls followed through task events, errors, deletion.
// usage: node xen_api_check.mjs URL USER PASSWORD [json-rpc|xml-rpc]
// (run by test_api_xen_api.py; the default transport is xen-api's auto: JSON-RPC first)
import { createClient } from 'xen-api'

const [url, user, password, transport] = process.argv.slice(2)
const results = []
const check = (cond, what) => {
  results.push(!!cond)
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`)
}
const withTimeout = (p, ms, what) =>
  Promise.race([
    p,
    new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms)),
  ])
const waitRef = ref =>
  new Promise(res => {
    const t = setInterval(() => {
      const o = xapi.getObjectByRef(ref, undefined)
      if (o) {
        clearInterval(t)
        res(o)
      }
    }, 50)
  })

const uname = 'xo' + Date.now()
const xapi = createClient({ url, auth: { user, password }, allowUnauthorized: true, transport })
try {
  await withTimeout(xapi.connect(), 30000, 'connect')
  check(xapi.status === 'connected',
    `connect (login with 2 params), transport ${transport || 'auto'}`)
  await withTimeout(xapi.objectsFetched, 60000, 'objectsFetched')
  const types = new Set(Object.values(xapi.objects.all).map(o => o.$type))
  check(xapi.pool && xapi.pool.$type === 'pool', 'pool object cached')
  check(types.has('host') && types.has('role'), 'objects fetched (pool, host, roles, ...)')
  await withTimeout(xapi.barrier(), 30000, 'barrier')
  check(true, 'barrier (add_to_other_config -> pool mod event)')
  const vmRef = await xapi.call('VM.create', {
    name_label: 'xo-test-vm',
    memory_static_max: 268435456,
    VCPUs_max: 1,
  })
  const vm = await withTimeout(waitRef(vmRef), 30000, 'VM via events')
  check(vm.name_label === 'xo-test-vm' && vm.power_state === 'Halted',
    'new VM arrives through event.from with its record')
  await xapi.setField('VM', vmRef, 'name_description', 'set by xen-api')
  await xapi.barrier()
  check(xapi.getObjectByRef(vmRef).name_description === 'set by xen-api',
    'setField + barrier: cache updated')
  const res = await withTimeout(xapi.callAsync('local_user.create', uname, 'pw-xo', 'read-only'),
    30000, 'callAsync')
  check(res === '' || res === undefined || res === null,
    `callAsync (Async.* + task events + task.destroy) result ${JSON.stringify(res)}`)
  let failed
  try {
    await withTimeout(xapi.callAsync('local_user.create', uname, 'pw-xo', 'read-only'), 30000,
      'callAsync failing')
  } catch (e) {
    failed = e
  }
  check(failed && failed.code === 'INVALID_VALUE',
    `a failing Async call rejects with the XenAPI code (${failed && failed.code})`)
  let unknown
  try {
    await xapi.call('VM.frobnicate', vmRef)
  } catch (e) {
    unknown = e
  }
  check(unknown && unknown.code === 'MESSAGE_METHOD_UNKNOWN',
    'unknown method -> MESSAGE_METHOD_UNKNOWN')
  await xapi.call('VM.destroy', vmRef)
  await xapi.barrier()
  check(xapi.getObjectByRef(vmRef, undefined) === undefined,
    'destroyed VM leaves the cache (del event)')
} catch (e) {
  check(false, `exception: ${e && (e.stack || e)}`)
} finally {
  try {
    await xapi.disconnect()
  } catch {}
}
const bad = results.filter(r => !r).length
console.log(`${results.length - bad} passed, ${bad} failed`)
process.exit(bad ? 1 : 0)

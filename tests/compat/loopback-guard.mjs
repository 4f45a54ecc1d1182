// Records every outbound connection and DNS lookup this process makes, so a test can prove
// that the SDK only ever talked to the local server (never to E2B's cloud).
import net from 'node:net'
import dns from 'node:dns'
import diagnostics from 'node:diagnostics_channel'

export const connections = []
export const lookups = []

const originalConnect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  const options = typeof args[0] === 'object' && args[0] !== null ? (Array.isArray(args[0]) ? args[0][0] : args[0]) : { port: args[0], host: args[1] }
  connections.push(options.path ? `unix:${options.path}` : `${options.host ?? 'localhost'}:${options.port}`)
  return originalConnect.apply(this, args)
}

const originalLookup = dns.lookup
dns.lookup = function (hostname, ...rest) {
  lookups.push(hostname)
  return originalLookup.call(this, hostname, ...rest)
}

// undici (the SDK's HTTP client and Node's fetch) announces every request here, with its origin.
export const origins = []
diagnostics.channel('undici:request:create').subscribe(({ request }) => origins.push(String(request.origin)))

/** Every host contacted, for an assertion that they are all 127.0.0.1. */
export function contactedHosts () {
  const hosts = new Set()
  for (const c of connections) hosts.add(c.startsWith('unix:') ? c : c.slice(0, c.lastIndexOf(':')))
  for (const o of origins) hosts.add(new URL(o).hostname)
  for (const l of lookups) hosts.add(l)
  return [...hosts]
}

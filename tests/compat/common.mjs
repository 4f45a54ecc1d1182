// Where the server under test is; run.sh starts it and sets these.
import assert from 'node:assert/strict'

export const baseUrl = process.env.VIVARIUM_URL
export const apiKey = process.env.VIVARIUM_API_KEY
assert.ok(baseUrl && apiKey, 'run the tests through run.sh (it starts the server and sets VIVARIUM_URL and VIVARIUM_API_KEY)')
assert.equal(new URL(baseUrl).hostname, '127.0.0.1', 'tests only ever talk to a local server')

// How an E2B user switches: the SDK reads these (see docs/compat.md). E2B_DOMAIN points
// anything that would still be derived from a domain at a name that cannot resolve.
process.env.E2B_API_URL = baseUrl
process.env.E2B_SANDBOX_URL = baseUrl
process.env.E2B_API_KEY = apiKey
process.env.E2B_DOMAIN = 'vivarium.invalid'
delete process.env.E2B_DEBUG

/** A raw request to the server, for what the SDK does not expose (keepalive lines, status codes). */
export async function raw (path, init = {}) {
  return fetch(new URL(path, baseUrl), init)
}

// The unmodified E2B SDK (@e2b/code-interpreter 2.8.0) against Vivarium: every call an E2B user
// makes for code interpretation, switched over with environment variables only.
import { contactedHosts } from './loopback-guard.mjs'
import { baseUrl, apiKey, raw } from './common.mjs'
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Sandbox, AuthenticationError, FileNotFoundError, InvalidArgumentError, NotFoundError, SandboxError, TimeoutError } from '@e2b/code-interpreter'

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

describe('E2B SDK', () => {
  /** @type {Sandbox} */
  let sbx

  before(async () => {
    sbx = await Sandbox.create({ timeoutMs: 10 * 60_000, envs: { GREETING: 'hello from envs' }, metadata: { suite: 'compat', run: 'e2b' } })
  })

  after(async () => {
    await sbx?.kill().catch(() => {})
  })

  it('answers GET /health with 204', async () => {
    const res = await raw('/health')
    assert.equal(res.status, 204)
  })

  it('creates a sandbox with envs and metadata, and reports it', async () => {
    assert.match(sbx.sandboxId, /^ses_[0-9a-f]{32}$/)
    const execution = await sbx.runCode('import os\nos.environ["GREETING"]')
    assert.equal(execution.text, 'hello from envs')

    const info = await sbx.getInfo()
    assert.equal(info.sandboxId, sbx.sandboxId)
    assert.equal(info.templateId, 'code-interpreter-v1')
    assert.deepEqual(info.metadata, { suite: 'compat', run: 'e2b' })
    assert.equal(info.state, 'running')
    assert.ok(info.endAt > info.startedAt)

    const listed = await Sandbox.list({ query: { metadata: { run: 'e2b' } } }).nextItems()
    assert.deepEqual(listed.map(s => s.sandboxId), [sbx.sandboxId])
    assert.deepEqual(await Sandbox.list({ query: { metadata: { run: 'nothing-like-this' } } }).nextItems(), [])
  })

  it('runs code with state kept between runs, streaming to the callbacks', async () => {
    const seen = { stdout: [], stderr: [], results: [], errors: [] }
    const execution = await sbx.runCode('import sys\nx = 41\nprint("to stdout")\nprint("to stderr", file=sys.stderr)\nx + 1', {
      onStdout: m => seen.stdout.push(m.line),
      onStderr: m => seen.stderr.push(m.line),
      onResult: r => seen.results.push(r),
      onError: e => seen.errors.push(e),
    })
    assert.equal(execution.text, '42')
    assert.deepEqual(execution.logs.stdout, ['to stdout\n'])
    assert.deepEqual(execution.logs.stderr, ['to stderr\n'])
    assert.deepEqual(seen.stdout, ['to stdout\n'])
    assert.deepEqual(seen.stderr, ['to stderr\n'])
    assert.equal(seen.results.length, 1)
    assert.equal(seen.results[0].isMainResult, true)
    assert.equal(seen.errors.length, 0)
    assert.equal(execution.error, undefined)
    assert.ok(execution.executionCount >= 1)

    const next = await sbx.runCode('x * 2')
    assert.equal(next.text, '82')
    assert.equal(next.executionCount, execution.executionCount + 1)
  })

  it('strips the quotes of a string result, as E2B does', async () => {
    assert.equal((await sbx.runCode("'hello'")).text, 'hello')
    assert.equal((await sbx.runCode('"it\'s"')).text, "it's")
  })

  it('returns a matplotlib chart as PNG', async () => {
    const results = []
    const execution = await sbx.runCode(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [4, 1, 9])\nplt.title("chart")\nplt.show()',
      { onResult: r => results.push(r) })
    assert.equal(execution.error, undefined)
    assert.equal(execution.results.length, 1)
    const chart = execution.results[0]
    assert.equal(chart.isMainResult, false)
    assert.ok(chart.formats().includes('png'))
    const png = Buffer.from(chart.png, 'base64')
    assert.deepEqual(png.subarray(0, 8), PNG_MAGIC)
    assert.ok(png.length > 5000, `a real chart, not ${png.length} bytes`)
    assert.match(chart.text, /Figure/)
    assert.equal(results.length, 1)
  })

  it('returns a pandas DataFrame as HTML', async () => {
    const execution = await sbx.runCode('import pandas as pd\npd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3, 19]})')
    const [table] = execution.results
    assert.equal(table.isMainResult, true)
    assert.match(table.html, /<table[^>]*class="dataframe"/)
    assert.match(table.html, /<td>Oslo<\/td>/)
    assert.match(table.text, /Lima\s+19/)
    assert.deepEqual(table.formats(), ['html'])
  })

  it('maps the other rich formats to their E2B fields', async () => {
    const execution = await sbx.runCode([
      'from IPython.display import display, SVG, Markdown, Latex, JSON, Javascript, HTML',
      'display(SVG("<svg xmlns=\'http://www.w3.org/2000/svg\' width=\'4\' height=\'4\'><rect width=\'4\' height=\'4\'/></svg>"))',
      'display(Markdown("# Title"))',
      'display(Latex(r"$x^2$"))',
      'display(JSON({"a": [1, 2]}))',
      'display(Javascript("console.log(1)"))',
      'display({"application/vnd.custom+json": {"k": 1}, "text/plain": "custom"}, raw=True)',
    ].join('\n'))
    assert.equal(execution.error, undefined)
    const [svg, markdown, latex, json, javascript, custom] = execution.results
    assert.match(svg.svg, /<svg/)
    assert.equal(markdown.markdown, '# Title')
    assert.equal(latex.latex, '$x^2$')
    assert.deepEqual(json.json, { a: [1, 2] })
    assert.equal(javascript.javascript, 'console.log(1)')
    assert.deepEqual(custom.raw.extra, { 'application/vnd.custom+json': { k: 1 } })
    assert.ok(execution.results.every(r => r.isMainResult === false))
  })

  it('reports a Python error with name, value and traceback', async () => {
    const errors = []
    const execution = await sbx.runCode('def f():\n    return {}["date"]\nf()', { onError: e => errors.push(e) })
    assert.equal(execution.error.name, 'KeyError')
    assert.equal(execution.error.value, "'date'")
    assert.match(execution.error.traceback, /KeyError/)
    assert.match(execution.error.traceback, /return \{\}\["date"\]/)
    assert.equal(errors.length, 1)
    assert.equal(execution.results.length, 0)
    // The sandbox is fine afterwards.
    assert.equal((await sbx.runCode('x')).text, '41')
  })

  it('interrupts the code when the client times out, and keeps the state', async () => {
    await sbx.runCode('kept = "before the timeout"')
    const started = Date.now()
    await assert.rejects(
      sbx.runCode('import time\nprint("started", flush=True)\ntime.sleep(60)\nkept = "should not be set"', { timeoutMs: 1500 }),
      error => error instanceof TimeoutError)
    assert.ok(Date.now() - started < 10_000)
    // The next run works at once (it waits for the interrupted one to unwind) and sees the old state.
    const next = await sbx.runCode('kept')
    assert.equal(next.text, 'before the timeout')
    assert.ok(Date.now() - started < 20_000, 'the sleep was interrupted, not waited out')
  })

  it('sends keepalive lines while the code is quiet and ends with end_of_execution', async () => {
    const res = await raw('/execute', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': sbx.envdAccessToken },
      body: JSON.stringify({ code: 'import time\ntime.sleep(6)\n"done"' }),
    })
    assert.equal(res.status, 200)
    const lines = (await res.text()).trim().split('\n').map(l => JSON.parse(l))
    assert.ok(lines.some(l => l.type === 'keepalive'), JSON.stringify(lines))
    assert.deepEqual(lines.filter(l => l.type !== 'keepalive').map(l => l.type), ['result', 'number_of_executions', 'end_of_execution'])
    assert.equal(lines.find(l => l.type === 'result').text, 'done')
  })

  describe('files', () => {
    it('writes one file and reads it back as text', async () => {
      const info = await sbx.files.write('/home/user/notes/hello.txt', 'héllo wörld\n')
      assert.deepEqual({ name: info.name, path: info.path, type: info.type }, { name: 'hello.txt', path: '/home/user/notes/hello.txt', type: 'file' })
      assert.equal(await sbx.files.read('/home/user/notes/hello.txt'), 'héllo wörld\n')
      assert.equal(await sbx.files.read('notes/hello.txt'), 'héllo wörld\n', 'relative paths are relative to /home/user')
      assert.equal((await sbx.runCode('open("notes/hello.txt", encoding="utf-8").read()')).text, 'héllo wörld\\n')
    })

    it('writes many files at once', async () => {
      const infos = await sbx.files.write([
        { path: '/home/user/many/a.txt', data: 'A' },
        { path: 'many/sub/b.txt', data: 'BB' },
        { path: '/home/user/many/c.bin', data: new Uint8Array([0, 1, 2, 254, 255]).buffer },
      ])
      assert.deepEqual(infos.map(i => i.path), ['/home/user/many/a.txt', '/home/user/many/sub/b.txt', '/home/user/many/c.bin'])
      assert.deepEqual(await sbx.files.read('/home/user/many/c.bin', { format: 'bytes' }), new Uint8Array([0, 1, 2, 254, 255]))
    })

    it('round-trips 1 MB of random bytes exactly', async () => {
      const data = randomBytes(1024 * 1024)
      await sbx.files.write('/home/user/big.bin', data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      const back = await sbx.files.read('/home/user/big.bin', { format: 'bytes' })
      assert.equal(back.length, data.length)
      assert.ok(Buffer.from(back).equals(data))
      // And the code sees the same bytes.
      const digest = (await sbx.runCode('import hashlib\nhashlib.sha256(open("big.bin", "rb").read()).hexdigest()')).text
      const { createHash } = await import('node:crypto')
      assert.equal(digest, createHash('sha256').update(data).digest('hex'))
    })

    it('uploads streams and gzip bodies (octet-stream), and reads as blob and stream', async () => {
      const encoder = new TextEncoder()
      const stream = new ReadableStream({
        start (controller) {
          controller.enqueue(encoder.encode('streamed '))
          controller.enqueue(encoder.encode('bytes'))
          controller.close()
        },
      })
      await sbx.files.write('/home/user/streamed.txt', stream)
      assert.equal(await sbx.files.read('streamed.txt'), 'streamed bytes')
      await sbx.files.write('/home/user/zipped.txt', 'compressed on the wire', { gzip: true })
      assert.equal(await sbx.files.read('zipped.txt'), 'compressed on the wire')
      const blob = await sbx.files.read('zipped.txt', { format: 'blob' })
      assert.equal(await blob.text(), 'compressed on the wire')
      let text = ''
      for await (const chunk of await sbx.files.read('streamed.txt', { format: 'stream' })) text += new TextDecoder().decode(chunk)
      assert.equal(text, 'streamed bytes')
    })

    it('reads files the code wrote, as text and as bytes', async () => {
      await sbx.runCode('open("made.csv", "w").write("a,b\\n1,2\\n")\nopen("empty.txt", "w").close()')
      assert.equal(await sbx.files.read('/home/user/made.csv'), 'a,b\n1,2\n')
      assert.deepEqual(Buffer.from(await sbx.files.read('made.csv', { format: 'bytes' })), Buffer.from('a,b\n1,2\n'))
      assert.equal(await sbx.files.read('empty.txt'), '')
    })

    it('lists a directory (Connect RPC ListDir)', async () => {
      const entries = await sbx.files.list('/home/user/many')
      assert.deepEqual(entries.map(e => [e.name, e.type, e.path]), [
        ['a.txt', 'file', '/home/user/many/a.txt'],
        ['c.bin', 'file', '/home/user/many/c.bin'],
        ['sub', 'dir', '/home/user/many/sub'],
      ])
      assert.equal(entries[0].size, 1)
      assert.ok(entries[0].modifiedTime instanceof Date)
      const deep = await sbx.files.list('/home/user/many', { depth: 2 })
      assert.ok(deep.some(e => e.path === '/home/user/many/sub/b.txt' && e.size === 2))
      const home = await sbx.files.list('/home/user')
      assert.ok(home.some(e => e.name === 'big.bin' && e.size === 1024 * 1024))
    })

    it('says whether a path exists (Connect RPC Stat)', async () => {
      assert.equal(await sbx.files.exists('/home/user/notes/hello.txt'), true)
      assert.equal(await sbx.files.exists('/home/user/notes'), true)
      assert.equal(await sbx.files.exists('/home/user/nothing-here.txt'), false)
      const info = await sbx.files.getInfo('/home/user/big.bin')
      assert.equal(info.type, 'file')
      assert.equal(info.size, 1024 * 1024)
    })

    it('removes a file', async () => {
      await sbx.files.remove('/home/user/many/a.txt')
      assert.equal(await sbx.files.exists('/home/user/many/a.txt'), false)
    })

    it('raises the SDK\'s own errors for a missing file and a path outside the workspace', async () => {
      await assert.rejects(sbx.files.read('/home/user/missing.txt'), FileNotFoundError)
      await assert.rejects(sbx.files.read('/etc/passwd'), InvalidArgumentError)
      await assert.rejects(sbx.files.list('/home/user/missing-dir'), FileNotFoundError)
      await assert.rejects(sbx.files.write('/home/user/../../etc/x', 'x'), InvalidArgumentError)
    })
  })

  describe('contexts', () => {
    it('creates, lists, restarts and removes a context with state of its own', async () => {
      const context = await sbx.createCodeContext({ language: 'python', cwd: '/home/user' })
      assert.equal(context.language, 'python')
      assert.equal(context.cwd, '/home/user')

      const ids = (await sbx.listCodeContexts()).map(c => c.id)
      assert.deepEqual(ids, [sbx.sandboxId, context.id], 'the default context (the sandbox itself) comes first')

      await sbx.runCode('only_here = 7', { context })
      assert.equal((await sbx.runCode('only_here * 6', { context })).text, '42')
      assert.equal((await sbx.runCode('"only_here" in globals()')).text, 'False', 'the default context does not see it')

      await sbx.restartCodeContext(context)
      assert.equal((await sbx.runCode('"only_here" in globals()', { context })).text, 'False', 'a restart clears the state')

      await sbx.removeCodeContext(context.id)
      assert.deepEqual((await sbx.listCodeContexts()).map(c => c.id), [sbx.sandboxId])
      await assert.rejects(sbx.runCode('1', { context }), NotFoundError)
    })

    it('restarts the default context: variables go, files stay', async () => {
      await sbx.runCode('doomed = 1\nopen("survives.txt", "w").write("yes")')
      await sbx.restartCodeContext(sbx.sandboxId)
      assert.equal((await sbx.runCode('"doomed" in globals()')).text, 'False')
      assert.equal((await sbx.runCode('open("survives.txt").read()')).text, 'yes')
      await sbx.runCode('x = 41')
    })

    it('refuses what it cannot do, loudly', async () => {
      await assert.rejects(sbx.createCodeContext({ language: 'javascript' }), SandboxError)
      await assert.rejects(sbx.createCodeContext({ cwd: '/tmp' }), SandboxError)
      await assert.rejects(sbx.runCode('console.log(1)', { language: 'js' }), SandboxError)
      await assert.rejects(sbx.runCode('1', { envs: { A: 'b' } }), SandboxError)
      await assert.rejects(sbx.commands.run('echo hi'), SandboxError)
    })
  })

  describe('lifecycle', () => {
    it('sets the timeout', async () => {
      await sbx.setTimeout(90_000)
      const info = await sbx.getInfo()
      const left = info.endAt.getTime() - Date.now()
      assert.ok(left > 80_000 && left <= 91_000, `${left} ms left`)
      await sbx.setTimeout(10 * 60_000)
    })

    it('connects to a running sandbox by id, with its state', async () => {
      const same = await Sandbox.connect(sbx.sandboxId)
      assert.equal(same.sandboxId, sbx.sandboxId)
      assert.equal(await same.isRunning(), true)
      assert.equal((await same.runCode('x')).text, '41')
      assert.equal(await same.files.read('/home/user/notes/hello.txt'), 'héllo wörld\n')
    })

    it('works with constructor options instead of environment variables', async () => {
      const saved = { ...process.env }
      for (const name of ['E2B_API_URL', 'E2B_SANDBOX_URL', 'E2B_API_KEY']) delete process.env[name]
      try {
        const other = await Sandbox.create({ apiKey, apiUrl: baseUrl, sandboxUrl: baseUrl, timeoutMs: 60_000 })
        assert.equal((await other.runCode('6 * 7')).text, '42')
        assert.equal(await other.kill(), true)
      } finally {
        Object.assign(process.env, saved)
      }
    })

    it('kills a sandbox: it is gone for every call', async () => {
      const doomed = await Sandbox.create({ timeoutMs: 60_000 })
      const context = await doomed.createCodeContext()
      await doomed.files.write('a.txt', 'a')
      assert.equal(await doomed.kill(), true)
      assert.equal(await doomed.isRunning(), false)
      assert.equal(await doomed.kill(), false, 'a second kill finds nothing')
      await assert.rejects(doomed.runCode('1'), TimeoutError) // E2B's answer for a sandbox that is gone
      await assert.rejects(doomed.runCode('1', { context }), TimeoutError)
      await assert.rejects(Sandbox.connect(doomed.sandboxId), NotFoundError)
      const listed = await Sandbox.list().nextItems()
      assert.ok(!listed.some(s => s.sandboxId === doomed.sandboxId || s.sandboxId === context.id))
    })
  })

  describe('security', () => {
    it('refuses a wrong API key', async () => {
      await assert.rejects(Sandbox.create({ apiKey: 'not-a-key' }), AuthenticationError)
      await assert.rejects(Sandbox.connect(sbx.sandboxId, { apiKey: 'not-a-key' }), AuthenticationError)
    })

    it('checks the sandbox access token on every sandbox request', async () => {
      const headers = { 'Content-Type': 'application/json', 'E2b-Sandbox-Id': sbx.sandboxId }
      const attempts = [
        ['/execute', { method: 'POST', body: JSON.stringify({ code: '1' }) }],
        ['/contexts', { method: 'GET' }],
        ['/files?path=/home/user/notes/hello.txt', { method: 'GET' }],
        ['/filesystem.Filesystem/ListDir', { method: 'POST', body: JSON.stringify({ path: '/home/user' }) }],
      ]
      for (const [path, init] of attempts) {
        for (const token of [undefined, 'wrong', apiKey]) {
          const h = { ...headers }
          if (token) h['X-Access-Token'] = token
          const res = await raw(path, { ...init, headers: h })
          assert.equal(res.status, 401, `${path} with token ${token}`)
        }
      }
      const right = await raw('/files?path=notes/hello.txt', { headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': sbx.envdAccessToken } })
      assert.equal(right.status, 200)
    })

    it('keeps one tenant\'s token from opening another sandbox', async () => {
      const other = await Sandbox.create({ timeoutMs: 60_000 })
      try {
        const res = await raw('/files?path=notes/hello.txt', { headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': other.envdAccessToken } })
        assert.equal(res.status, 401)
      } finally {
        await other.kill()
      }
    })

    it('refuses templates, network and pausing it does not have', async () => {
      await assert.rejects(Sandbox.create('base'), SandboxError)
      await assert.rejects(Sandbox.create({ allowInternetAccess: true }), SandboxError)
      await assert.rejects(Sandbox.create({ lifecycle: { onTimeout: 'pause' } }), SandboxError)
      await assert.rejects(sbx.pause(), SandboxError)
    })
  })

  after(() => {
    // The SDK was pointed at the local server; nothing may have gone anywhere else.
    const hosts = contactedHosts()
    assert.ok(hosts.length > 0)
    assert.deepEqual(hosts.filter(h => h !== '127.0.0.1'), [], `contacted: ${hosts.join(', ')}`)
  })
})

namespace Vivarium.Server.Operations;

/// <summary>
/// A self-contained API reference rendered from <c>/openapi/v1.json</c> in the browser. No CDN:
/// the server must work offline.
/// </summary>
internal static class ApiReferencePage
{
    public const string Html = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vivarium API reference</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
  h1 { margin-bottom: 0 } .muted { color: #666 }
  .op { border: 1px solid #ddd; border-radius: 6px; margin: .6rem 0; padding: .5rem .8rem }
  .method { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: ui-monospace, monospace }
  .GET { color: #0a7 } .POST { color: #06c } .PUT { color: #a60 } .DELETE { color: #c22 }
  code { font-family: ui-monospace, monospace }
  @media (prefers-color-scheme: dark) { body { background: #111; color: #eee } .op { border-color: #333 } .muted { color: #aaa } }
</style>
</head>
<body>
<h1>Vivarium API</h1>
<p class="muted">Every <code>/v1</code> route needs <code>Authorization: Bearer &lt;key&gt;</code>. Errors are <code>application/problem+json</code> with a stable <code>code</code>.
The machine-readable description is at <a href="/openapi/v1.json">/openapi/v1.json</a>.</p>
<div id="ops">Loading…</div>
<script>
fetch('/openapi/v1.json').then(r => r.json()).then(doc => {
  const root = document.getElementById('ops'); root.textContent = '';
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const div = document.createElement('div'); div.className = 'op';
      const m = document.createElement('span'); m.className = 'method ' + method.toUpperCase(); m.textContent = method.toUpperCase();
      const p = document.createElement('code'); p.textContent = path;
      const s = document.createElement('div'); s.className = 'muted'; s.textContent = op.summary || '';
      div.append(m, p, s); root.append(div);
    }
  }
}).catch(e => { document.getElementById('ops').textContent = 'Could not load the OpenAPI document: ' + e; });
</script>
</body>
</html>
""";
}

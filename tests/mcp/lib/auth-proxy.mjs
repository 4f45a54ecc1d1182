// A loopback proxy that adds "Authorization: Bearer <key>" to every request and passes
// everything else through untouched, Host and Origin included, streaming both ways (SSE).
//
// Why: the conformance CLI connects to --url with no way to send headers, while /mcp keeps
// requiring the API key like the REST API. The proxy lets the suite run against the real,
// authenticated endpoint instead of a weakened one.
import http from 'node:http';

/**
 * @param {URL} target the server's base URL (http://127.0.0.1:PORT)
 * @param {string} apiKey
 * @returns {Promise<{url: URL, close: () => Promise<void>}>}
 */
export async function startAuthProxy(target, apiKey) {
  const server = http.createServer((request, response) => {
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, authorization: `Bearer ${apiKey}` },
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'text/plain' });
      }
      response.end(`proxy: ${error.message}`);
    });
    // A client that goes away (closing an SSE stream) closes the upstream request too.
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

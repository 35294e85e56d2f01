// A minimal static file server for the built page (tests and the screenshot script): the right
// MIME types for .js and .wasm, nothing outside `root`.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png', '.svg': 'image/svg+xml' };

/** Serves `root` on 127.0.0.1 (a free port); resolves to the server and the page's URL. */
export async function serveStatic(root) {
  const base = path.resolve(root);
  const server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '') || 'index.html';
    const file = path.join(base, path.normalize(rel));
    if (!file.startsWith(base)) return void res.writeHead(403).end();
    readFile(file).then(
      (body) => res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/index.html` };
}

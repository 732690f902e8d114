import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

let page: Buffer | undefined;

/** The page is read once; it is one self-contained file (inline CSS and JS, no external requests). */
function dashboardPage(): Buffer {
  page ??= readFileSync(new URL('./index.html', import.meta.url));
  return page;
}

const SECURITY_HEADERS = {
  // Inline script and style are the page's own; nothing may be loaded from elsewhere.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function serveDashboard(req: IncomingMessage, res: ServerResponse): void {
  const body = dashboardPage();
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-cache',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

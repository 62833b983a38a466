// TLS for the local broker: a self-signed certificate made at start, and a
// front that terminates wss:// / https:// and hands the request to the
// runtime's plain HTTP port.
//
// The runtime is told the connection used TLS the way a TLS-terminating proxy
// tells any origin, with X-Forwarded-Proto: https. Miniflare's entry Worker
// turns that header into the request URL's scheme, and the Worker decides TLS
// from the scheme (worker/trusted-context.ts), exactly as it does on
// Cloudflare, where a wss:// request arrives as https://.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';

const CERT_DAYS = 30;

/**
 * A key and self-signed certificate for localhost / 127.0.0.1 under dir,
 * made with the openssl binary on first use and again when older than
 * CERT_DAYS - 1 days. dir lives under the persistence directory (for npm
 * start, .wrangler/, which git ignores), so no key ever reaches git.
 */
export function localCertificate(dir) {
  const keyPath = path.join(dir, 'localhost-key.pem');
  const certPath = path.join(dir, 'localhost-cert.pem');
  const fresh = existsSync(keyPath) && existsSync(certPath) && Date.now() - statSync(certPath).mtimeMs < (CERT_DAYS - 1) * 86_400_000;
  if (!fresh) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyPath, '-out', certPath, '-days', String(CERT_DAYS),
        '-subj', '/CN=EdgeMQ local broker',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return { key: readFileSync(keyPath), cert: readFileSync(certPath), certPath };
}

/** Headers a client may not set for itself here: they decide the scheme and cf object the Worker sees. */
function forwardable(name) {
  const lower = name.toLowerCase();
  return lower !== 'x-forwarded-proto' && !lower.startsWith('mf-');
}

/** The request head for the plain port, with the client's own headers in their order, plus X-Forwarded-Proto. */
function upstreamHead(req) {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (forwardable(req.rawHeaders[i])) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  lines.push('X-Forwarded-Proto: https');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Listens for TLS on 127.0.0.1:port and passes every request and WebSocket
 * upgrade to 127.0.0.1:targetPort. Resolves with the server once listening.
 */
export function startTlsFront({ port, targetPort, key, cert }) {
  const server = https.createServer({ key, cert });

  server.on('request', (req, res) => {
    const headers = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (forwardable(req.rawHeaders[i])) headers[req.rawHeaders[i]] = req.rawHeaders[i + 1];
    }
    headers['X-Forwarded-Proto'] = 'https';
    const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });

  server.on('upgrade', (req, socket, head) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const end = () => {
      socket.destroy();
      upstream.destroy();
    };
    upstream.on('error', end);
    socket.on('error', end);
    upstream.on('close', end);
    socket.on('close', end);
    upstream.once('connect', () => {
      upstream.write(upstreamHead(req));
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

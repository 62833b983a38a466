// `npm start`: EdgeMQ on the local runtime with embedded defaults. Local D1 gets
// its migrations, Durable Objects run in workerd with SQLite storage under
// .wrangler/state (where `wrangler d1 execute edgemq --local --persist-to
// .wrangler/state` looks too).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { applyMigrations, projectRoot, startLocalBroker } from './local-broker.mjs';

const persistDir = path.join(projectRoot, '.wrangler', 'state');
const devVars = path.join(projectRoot, '.dev.vars');
const port = Number(process.env.PORT ?? 8787);
// wss:// and https://, with a self-signed certificate made under .wrangler/state/tls.
const tlsPort = Number(process.env.TLS_PORT ?? 8443);

for (const [name, value] of [['PORT', port], ['TLS_PORT', tlsPort]]) {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`${name} must be a TCP port number, got "${process.env[name]}"`);
    process.exit(1);
  }
}

if (!existsSync(devVars)) {
  writeFileSync(
    devVars,
    [
      '# Local settings and secrets for `npm start` (git ignores this file).',
      '# Values here override [vars] in wrangler.toml; see docs/configuration.md.',
      '# Anonymous access is on so you can try the broker at once; set it to false',
      '# to require credentials locally.',
      'ALLOW_ANONYMOUS=true',
      '# Topic ACLs allow what no rule decides, locally only (deployments default to deny).',
      'ACL_DEFAULT_POLICY=allow',
      '',
    ].join('\n'),
  );
  console.log('Created .dev.vars with local defaults.');
}

// The first dashboard/API admin, created on first use. A random password, never a default one.
if (!/^\s*ADMIN_PASSWORD\s*=/m.test(readFileSync(devVars, 'utf8'))) {
  appendFileSync(
    devVars,
    [
      '',
      '# Admin sign-in for the dashboard and the REST API (created on first use).',
      'ADMIN_USERNAME=admin',
      `ADMIN_PASSWORD=${randomBytes(12).toString('base64url')}`,
      `ADMIN_JWT_SECRET=${randomBytes(32).toString('base64url')}`,
      '',
    ].join('\n'),
  );
  console.log('Added a random admin password to .dev.vars.');
}
// One key for every shard's credential cache and SCRAM salts (docs/configuration.md), as a deployment sets with `wrangler secret put`.
if (!/^\s*AUTH_CACHE_SECRET\s*=/m.test(readFileSync(devVars, 'utf8'))) {
  appendFileSync(devVars, ['', '# Keys the verified-credentials cache and the salts SCRAM shows for unknown usernames, the same on every shard.', `AUTH_CACHE_SECRET=${randomBytes(32).toString('base64url')}`, ''].join('\n'));
}
const adminUser = /^\s*ADMIN_USERNAME\s*=\s*(.+)$/m.exec(readFileSync(devVars, 'utf8'))?.[1]?.trim() ?? 'admin';

const anonymous = /^\s*ALLOW_ANONYMOUS\s*=\s*["']?(true|1|yes|on)["']?\s*$/im.test(readFileSync(devVars, 'utf8'));

try {
  console.log('Applying D1 migrations to the local database...');
  await applyMigrations(persistDir);
  console.log(`Starting the broker (workerd) on 127.0.0.1:${port}...`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

// The local broker is a cluster of four shards, as a deployment is a cluster: clients whose ids
// land on different shards still see one broker. BROKER_SHARDS in .dev.vars overrides it.
const LOCAL_SHARDS = '4';
const shardsFromDevVars = /^\s*BROKER_SHARDS\s*=\s*(\S+)/m.exec(readFileSync(devVars, 'utf8'))?.[1];
const shards = shardsFromDevVars ?? LOCAL_SHARDS;

let dev;
try {
  dev = await startLocalBroker({
    port,
    tlsPort,
    persistDir,
    vars: shardsFromDevVars ? {} : { BROKER_SHARDS: LOCAL_SHARDS },
    forward: true,
    onExit(code) {
      console.error(`the local runtime exited unexpectedly (${code}).`);
      process.exit(typeof code === 'number' && code !== 0 ? code : 1);
    },
  });
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(message.includes('already in use') ? `${message}; stop whatever uses it or pick other ports: PORT=8788 TLS_PORT=8444 npm start` : message);
  process.exit(1);
}

console.log('');
console.log('EdgeMQ is running');
console.log(`  MQTT over WebSocket: ws://127.0.0.1:${dev.port}/mqtt`);
console.log(`  MQTT over TLS:       ${dev.wssUrl}  (self-signed: ${path.relative(projectRoot, dev.certPath)})`);
console.log(`  Dashboard:           http://127.0.0.1:${dev.port}/  or  ${dev.tlsUrl}/`);
console.log(`  Broker shards:       ${shards} (BROKER_SHARDS; the dashboard's Shards page shows each one)`);
console.log(`  Admin sign-in:       user "${adminUser}", password in .dev.vars (ADMIN_PASSWORD)`);
if (anonymous) {
  console.log('');
  console.log('WARNING: anonymous access is enabled locally (ALLOW_ANONYMOUS=true in .dev.vars).');
  console.log('         To turn it off, set ALLOW_ANONYMOUS=false in .dev.vars and restart npm start.');
}
console.log('');
console.log('Press Ctrl-C to stop.');

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log('Stopping EdgeMQ...');
  try {
    await dev.stop();
  } finally {
    process.exit(0);
  }
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGHUP', shutdown);

// `npm start`: EdgeMQ on the local runtime with embedded defaults. Local D1 gets
// its migrations, Durable Objects run in workerd with SQLite storage under
// .wrangler/state (where `wrangler d1 execute edgemq --local` looks too).
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyMigrations, projectRoot, startWranglerDev } from './local-broker.mjs';

const persistDir = path.join(projectRoot, '.wrangler', 'state');
const devVars = path.join(projectRoot, '.dev.vars');
const port = Number(process.env.PORT ?? 8787);

if (!existsSync(devVars)) {
  // Local secrets and overrides; git ignores this file.
  writeFileSync(
    devVars,
    [
      '# Local settings for `npm start` (never committed). See docs/configuration.md.',
      '# Anonymous access is on for local experiments only; set it to false to try authentication.',
      'ALLOW_ANONYMOUS=true',
      '',
    ].join('\n'),
  );
  console.log(`Created ${path.relative(process.cwd(), devVars) || '.dev.vars'} with local defaults.`);
}

console.log('Applying D1 migrations to the local database...');
await applyMigrations(persistDir);
console.log('Starting the broker (wrangler dev, workerd)...');
const dev = await startWranglerDev({ port, persistDir, inherit: true });

const anonymous = /^\s*ALLOW_ANONYMOUS\s*=\s*(true|1|yes|on)\s*$/im.test((await import('node:fs')).readFileSync(devVars, 'utf8'));
console.log('');
console.log('EdgeMQ is running');
console.log(`  MQTT over WebSocket: ws://127.0.0.1:${dev.port}/mqtt`);
console.log(`  Dashboard:           http://127.0.0.1:${dev.port}/`);
if (anonymous) console.log('  Warning: anonymous access is enabled locally (ALLOW_ANONYMOUS=true in .dev.vars).');
console.log('Press Ctrl-C to stop.');

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await dev.stop();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

import mqtt from 'mqtt';
import { mkdtempSync } from 'node:fs';
import os from 'node:os'; import path from 'node:path';
import { startLocalBroker, applyMigrations } from './scripts/local-broker.mjs';
const FNV=0x811c9dc5, P=0x01000193; const enc=new TextEncoder();
const shardOf=(id,n)=>{let h=FNV;for(const b of enc.encode(id)){h^=b;h=Math.imul(h,P);}return (h>>>0)%n;};
const idOn=(s,p)=>{for(let i=0;;i++){const id=`${p}-${i}`;if(shardOf(id,4)===s)return id;}};
const dir = mkdtempSync(path.join(os.tmpdir(),'smoke-'));
await applyMigrations(dir);
const b = await startLocalBroker({ persistDir: dir, vars: { BROKER_SHARDS: '4', ALLOW_ANONYMOUS:'true', ACL_DEFAULT_POLICY:'allow', CONFIG_RECHECK_SECONDS:'0' } });
console.log('up', b.wsUrl);
const conn = (id) => new Promise((res, rej) => { const c = mqtt.connect(b.wsUrl, { clientId: id, protocolVersion: 5, reconnectPeriod: 0 }); c.on('connect', () => res(c)); c.on('error', rej); });
try {
  const sub = await conn(idOn(1,'sub'));
  const got = [];
  sub.on('message', (t, p, pk) => got.push([t, p.toString(), JSON.stringify(pk.properties)]));
  await sub.subscribeAsync('props/req', { qos: 1 });
  const pub = await conn(idOn(3,'pub'));
  await Promise.race([pub.publishAsync('props/req', '{"op":"ping"}', { qos: 1, properties: { userProperties: { tenant: 'acme', tag: ['a','b'] }, responseTopic: 'props/reply', correlationData: Buffer.from([0xde,0xad]), contentType: 'application/json', payloadFormatIndicator: true, messageExpiryInterval: 120 } }), new Promise(r=>setTimeout(r,5000))]);
  await new Promise(r => setTimeout(r, 500));
  console.log(got.length, JSON.stringify(got));
  const r = await fetch(b.url + '/health'); console.log('health', r.status);
} catch (e) { console.error('ERR', e); }
console.log(b.output().split('\n').filter(l=>/error|Error|edgemq/.test(l)).slice(0,30).join('\n'));
await b.stop(); process.exit(0);

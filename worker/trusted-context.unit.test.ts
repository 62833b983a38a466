import { describe, expect, it } from 'vitest';
import { buildTrustedContext } from './trusted-context';

const request = (url: string, cf?: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const r = new Request(url, { headers });
  if (cf) Object.defineProperty(r, 'cf', { value: cf });
  return r;
};

describe('buildTrustedContext: TLS', () => {
  it('says TLS on Cloudflare, where wss:// arrives as https:// and cf.tlsVersion names the version', () => {
    expect(buildTrustedContext(request('https://broker.example/mqtt', { tlsVersion: 'TLSv1.3' }), 'mqtt').tls).toBe(true);
    expect(buildTrustedContext(request('http://broker.example/mqtt', { tlsVersion: 'TLSv1.2' }), 'mqtt').tls).toBe(true);
  });

  it('says no TLS for plain requests, whose cf.tlsVersion is empty or NONE, and without a cf object', () => {
    expect(buildTrustedContext(request('http://broker.example/mqtt', { tlsVersion: '' }), 'mqtt').tls).toBe(false);
    expect(buildTrustedContext(request('http://broker.example/mqtt', { tlsVersion: 'NONE' }), 'mqtt').tls).toBe(false);
    expect(buildTrustedContext(request('http://127.0.0.1:8787/mqtt'), 'mqtt').tls).toBe(false);
  });

  it('does not take a client header for TLS', () => {
    const r = request('http://127.0.0.1:8787/mqtt', { tlsVersion: '' }, { 'x-forwarded-proto': 'https', 'cf-visitor': '{"scheme":"https"}' });
    expect(buildTrustedContext(r, 'mqtt').tls).toBe(false);
  });
});

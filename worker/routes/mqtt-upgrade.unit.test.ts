import { describe, expect, it } from 'vitest';
import { isMqttPath } from './mqtt-upgrade';

describe('isMqttPath, the check every connection passes before the router', () => {
  it('matches /mqtt with or without a query', () => {
    expect(isMqttPath('https://edge.example/mqtt')).toBe(true);
    expect(isMqttPath('http://127.0.0.1:8787/mqtt?x=1')).toBe(true);
    expect(isMqttPath('https://edge.example/mqtt#frag')).toBe(true);
  });

  it('does not match other paths, so the app answers them', () => {
    expect(isMqttPath('https://edge.example/')).toBe(false);
    expect(isMqttPath('https://edge.example')).toBe(false);
    expect(isMqttPath('https://edge.example/mqtt/')).toBe(false);
    expect(isMqttPath('https://edge.example/mqttx')).toBe(false);
    expect(isMqttPath('https://edge.example/api/v1/mqtt')).toBe(false);
    expect(isMqttPath('https://mqtt.example/health')).toBe(false);
  });
});

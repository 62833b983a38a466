/**
 * The CONNECT the raw test clients send unless a test says otherwise: a clean
 * start, no keepalive and a fresh client id short enough for MQTT 3.1's
 * 23-character limit, with `fields` on top.
 */
export function connectPacket(protocolVersion: 3 | 4 | 5, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clean: true,
    keepalive: 0,
    clientId: `raw-${crypto.randomUUID().slice(0, 8)}`,
    ...fields,
  };
}

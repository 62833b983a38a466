/**
 * Messages the gateway sends the shard about a connection, beside the
 * client's MQTT bytes. They travel as WebSocket text frames: MQTT over
 * WebSocket is binary only [MQTT-6.0.0-1], the gateway never forwards a
 * client's text frame, so a client cannot forge one.
 */
export type ControlMessage =
  /** No packet from the client within 1.5 x the keepalive [MQTT-3.1.2-22]: end it as a network loss, with the will. */
  | { type: 'keepalive-expired' }
  /** The edge caught a bad frame or stream the shard never saw; the shard answers it as if it had. */
  | { type: 'violation'; reasonCode: number; reason: string };

export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

export function decodeControl(text: string): ControlMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const m = value as Record<string, unknown>;
  if (m.type === 'keepalive-expired') return { type: 'keepalive-expired' };
  if (m.type === 'violation' && Number.isInteger(m.reasonCode) && typeof m.reason === 'string') {
    return { type: 'violation', reasonCode: m.reasonCode as number, reason: m.reason.slice(0, 200) };
  }
  return null;
}

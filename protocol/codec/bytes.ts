/**
 * Several MQTT packets in one WebSocket message [MQTT-6.0.0-2]: each message
 * a Durable Object receives or sends costs as much as handling a small packet,
 * so whatever one event produces for one socket leaves as one buffer.
 */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

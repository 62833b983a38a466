import type { IClientOptions } from 'mqtt';
import type { IDisconnectPacket, IPubackPacket, IPubrecPacket, ISubackPacket } from 'mqtt-packet';
import { connectClient, until, type RecordingClient } from './mqtt-clients';

/**
 * MQTT.js helpers for topic ACL suites: every answer is read from the packets
 * that crossed the wire, not from MQTT.js's interpretation of them.
 */

export type Version = 4 | 5;
export const VERSIONS: readonly Version[] = [4, 5];

/** What a denied SUBSCRIBE filter is answered with: 0x80 in 3.1.1, 0x87 in 5.0. */
export const subDenied = (v: Version) => (v === 5 ? 0x87 : 0x80);

export interface AclClient {
  client: RecordingClient;
  got: Array<{ topic: string; payload: string; retain: boolean }>;
  v: Version;
}

export async function open(wsUrl: string, v: Version, options: IClientOptions = {}): Promise<AclClient> {
  const client = await connectClient(wsUrl, { protocolVersion: v, ...options });
  const got: AclClient['got'] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return { client, got, v };
}

/** SUBACK return codes for one SUBSCRIBE carrying all these filters. */
export async function subscribe(c: AclClient, ...filters: string[]): Promise<number[]> {
  const from = c.client.packets.length;
  await new Promise<void>((resolve) => c.client.subscribe(filters, { qos: 1 }, () => resolve()));
  const ack = c.client.packets.slice(from).find((p) => p.cmd === 'suback') as ISubackPacket | undefined;
  if (!ack) throw new Error('no SUBACK');
  return ack.granted as number[];
}

/**
 * Publishes and returns the reason code of the PUBACK (QoS 1) or PUBREC
 * (QoS 2): 0 when 3.1.1 acknowledges as usual. QoS 0 resolves with null once
 * written. For QoS 2 accepted by the broker, waits for the PUBCOMP too.
 */
export async function publish(c: AclClient, topic: string, payload: string, qos: 0 | 1 | 2 = 1, retain = false): Promise<number | null> {
  const from = c.client.packets.length;
  await new Promise<void>((resolve) => c.client.publish(topic, payload, { qos, retain }, () => resolve()));
  if (qos === 0) return null;
  const ack = c.client.packets.slice(from).find((p) => p.cmd === (qos === 1 ? 'puback' : 'pubrec')) as IPubackPacket | IPubrecPacket | undefined;
  if (!ack) throw new Error(`no ${qos === 1 ? 'PUBACK' : 'PUBREC'} for ${topic}`);
  return ack.reasonCode ?? 0;
}

/** Waits until a message on this topic with this payload arrived. */
export async function received(c: AclClient, topic: string, payload: string, timeoutMs = 10_000): Promise<void> {
  await until(() => c.got.some((m) => m.topic === topic && m.payload === payload), timeoutMs, `${topic} '${payload}' at ${c.client.options.clientId}`);
}

export const topicsOf = (c: AclClient) => c.got.map((m) => m.topic);

/** The DISCONNECT the broker sent, if any. */
export const disconnectOf = (c: AclClient) => c.client.packets.find((p) => p.cmd === 'disconnect') as IDisconnectPacket | undefined;

export async function closed(c: AclClient, timeoutMs = 10_000): Promise<void> {
  await until(() => !c.client.connected, timeoutMs, `${c.client.options.clientId} closed by the broker`);
}

export async function end(...clients: AclClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.client.endAsync(true).catch(() => undefined)));
}

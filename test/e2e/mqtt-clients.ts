import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import WebSocket from 'ws';
import * as codec from 'mqtt-packet';
import { connectPacket } from '../support/connect-packet';

/**
 * Real MQTT.js clients for end-to-end tests, with every packet they receive
 * recorded so tests can assert on what crossed the wire.
 */
export interface RecordingClient extends MqttClient {
  packets: Packet[];
}

export async function connectClient(wsUrl: string, options: IClientOptions = {}): Promise<RecordingClient> {
  const client = mqtt.connect(wsUrl, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clientId: `e2e-${Math.random().toString(16).slice(2, 10)}`,
    ...options,
  }) as RecordingClient;
  // Recorded from the first byte, so the CONNACK is in there too.
  client.packets = [];
  client.on('packetreceive', (p) => client.packets.push(p));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

export function connackPacket(client: RecordingClient): mqtt.IConnackPacket {
  const ack = client.packets.find((p) => p.cmd === 'connack');
  if (!ack) throw new Error('no CONNACK recorded');
  return ack as mqtt.IConnackPacket;
}

/** Connects expecting a refusal; returns the CONNACK the broker sent. */
export async function connackOf(wsUrl: string, options: IClientOptions): Promise<Packet> {
  const client = mqtt.connect(wsUrl, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  try {
    return await new Promise<Packet>((resolve, reject) => {
      client.on('packetreceive', (p) => {
        if (p.cmd === 'connack') resolve(p);
      });
      client.on('close', () => setTimeout(() => reject(new Error('closed without CONNACK')), 50));
    });
  } finally {
    client.end(true);
  }
}

export function collectMessages(client: MqttClient): Array<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> {
  const out: Array<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> = [];
  client.on('message', (topic, payload, packet) => out.push({ topic, payload: payload.toString(), packet }));
  return out;
}

export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A raw client: bytes over a plain `ws` WebSocket, decoded with mqtt-packet.
 * For what a well-behaved library will not send (malformed packets, text
 * frames, split frames, silence instead of PINGREQ).
 */
export class RawWsClient {
  readonly packets: codec.Packet[] = [];
  /** Every byte the broker sent, in order, for assertions on the exact wire form. */
  received: Buffer = Buffer.alloc(0);
  closed = false;
  closeCode: number | null = null;
  private readonly parser: ReturnType<typeof codec.parser>;

  private constructor(
    readonly ws: WebSocket,
    readonly protocolVersion: 3 | 4 | 5,
  ) {
    this.parser = codec.parser({ protocolVersion });
    this.parser.on('packet', (p: codec.Packet) => this.packets.push(p));
    ws.on('message', (data: Buffer) => {
      this.received = Buffer.concat([this.received, data]);
      this.parser.parse(data);
    });
    ws.on('close', (code: number) => {
      this.closed = true;
      this.closeCode = code;
    });
  }

  static open(wsUrl: string, protocolVersion: 3 | 4 | 5 = 5, subprotocol = 'mqtt'): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, subprotocol);
      ws.binaryType = 'nodebuffer';
      ws.once('open', () => resolve(new RawWsClient(ws, protocolVersion)));
      ws.once('error', reject);
    });
  }

  send(packet: Record<string, unknown>): void {
    this.ws.send(codec.generate(packet as unknown as codec.Packet, { protocolVersion: this.protocolVersion }));
  }

  sendBytes(bytes: Uint8Array | Buffer | string): void {
    this.ws.send(bytes);
  }

  async connect(fields: Record<string, unknown> = {}): Promise<codec.Packet> {
    this.send(connectPacket(this.protocolVersion, fields));
    return this.next('connack');
  }

  async next<T extends codec.Packet = codec.Packet>(cmd: codec.Packet['cmd'], timeoutMs = 5000): Promise<T> {
    return this.nextOf<T>([cmd], timeoutMs);
  }

  /** The first packet of any of these types, e.g. AUTH or CONNACK after a CONNECT with enhanced authentication. */
  async nextOf<T extends codec.Packet = codec.Packet>(cmds: codec.Packet['cmd'][], timeoutMs = 5000): Promise<T> {
    const label = cmds.join('|');
    await until(() => this.packets.some((p) => cmds.includes(p.cmd)) || this.closing, timeoutMs, label);
    // A packet sent just before the close frame is already parsed by now.
    const i = this.packets.findIndex((p) => cmds.includes(p.cmd));
    if (i < 0) throw new Error(`closed (${this.closeCode}) before ${label}; got ${this.packets.map((p) => p.cmd).join(',')}`);
    return this.packets.splice(i, 1)[0] as T;
  }

  /**
   * Resolves once the broker's close frame arrived (readyState CLOSING or
   * CLOSED). The local proxy may hold the TCP connection open for seconds
   * after the closing handshake, so waiting for 'close' would measure it.
   */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await until(() => this.closed || this.ws.readyState >= WebSocket.CLOSING, timeoutMs, 'close');
  }

  get closing(): boolean {
    return this.closed || this.ws.readyState >= WebSocket.CLOSING;
  }

  close(): void {
    this.ws.close();
  }
}

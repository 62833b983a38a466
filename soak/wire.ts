import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';

/**
 * Lightweight MQTT-over-WebSocket clients for load: a raw `ws` socket and
 * bytes from mqtt-packet, so one Node process can hold thousands of them and
 * the measurement is about the broker, not the client library.
 */

export const encode = (packet: mqttPacket.Packet): Buffer => mqttPacket.generate(packet);

export function connectPacket(clientId: string, options: { keepalive?: number; username?: string; password?: string; clean?: boolean } = {}): Buffer {
  return encode({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: options.clean ?? true,
    clientId,
    keepalive: options.keepalive ?? 60,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: Buffer.from(options.password) }),
  });
}

export interface RawClient {
  ws: WebSocket;
  /** Resolves true once the WebSocket handshake completed, false if it failed. */
  opened: Promise<boolean>;
  /** The CONNACK return code, or null when the socket closed first. */
  connack: Promise<number | null>;
  /** Resolves when the socket is closed. */
  closed: Promise<void>;
  /** The close frame's code and reason, once closed. */
  closedWith?: string;
}

/** Opens a socket and sends one CONNECT in one frame, as browsers and paho do. */
export function openClient(wsUrl: string, connect: Buffer, timeoutMs = 60_000, headers: Record<string, string> = {}): RawClient {
  const ws = new WebSocket(wsUrl, 'mqtt', { perMessageDeflate: false, handshakeTimeout: timeoutMs, headers });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let settle: (code: number | null) => void = () => {};
  const connack = new Promise<number | null>((resolve) => (settle = resolve));
  const timer = setTimeout(() => settle(null), timeoutMs);
  parser.on('packet', (packet) => {
    if (packet.cmd === 'connack') {
      clearTimeout(timer);
      settle((packet as mqttPacket.IConnackPacket).returnCode ?? 0);
    }
  });
  parser.on('error', () => settle(null));
  ws.on('message', (data: Buffer) => parser.parse(data));
  const opened = new Promise<boolean>((resolve) => {
    ws.once('open', () => {
      ws.send(connect);
      resolve(true);
    });
    ws.once('close', () => resolve(false));
  });
  ws.on('error', () => settle(null));
  const client: RawClient = { ws, opened, connack, closed: Promise.resolve() };
  client.closed = new Promise<void>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      client.closedWith = `${code} ${String(reason)}`.trim();
      settle(null);
      resolve();
    }),
  );
  return client;
}

/** Opens n clients, at most `parallel` handshakes at a time; reports each outcome. */
export async function openMany(
  n: number,
  parallel: number,
  make: (i: number) => RawClient,
  onResult: (i: number, client: RawClient, code: number | null) => void,
  /** Wait for the handshake only (a peer that never answers CONNECT); the code is then 0 when open. */
  until: 'connack' | 'open' = 'connack',
  /** Checked before each new client: true ends the run early (a time limit). */
  shouldStop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n && !shouldStop()) {
      const i = next++;
      const client = make(i);
      const code = until === 'connack' ? await client.connack : (await client.opened) ? 0 : null;
      onResult(i, client, code);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
}

/** Closes every socket and waits (bounded) until they are gone. */
export async function closeAll(clients: Iterable<RawClient>, timeoutMs = 30_000): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const c of clients) {
    if (c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING) c.ws.terminate();
    waits.push(c.closed);
  }
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, timeoutMs))]);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

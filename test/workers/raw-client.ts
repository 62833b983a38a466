import { SELF } from 'cloudflare:test';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { connectPacket } from '../support/connect-packet';

/**
 * An MQTT client made of raw bytes over a real WebSocket into the Worker,
 * running inside workerd. Packets are encoded and decoded with mqtt-packet,
 * independently of the broker's codec, so tests see exactly what crossed the wire.
 */
export class RawClient {
  readonly received: Packet[] = [];
  /** WebSocket messages received so far; one may carry several packets. */
  frames = 0;
  closed = false;
  closeCode: number | null = null;
  private waiters: Array<() => void> = [];
  private readonly parser: ReturnType<typeof mqtt.parser>;

  private constructor(
    readonly ws: WebSocket,
    readonly protocolVersion: 3 | 4 | 5,
    readonly subprotocol: string | null,
  ) {
    this.parser = mqtt.parser({ protocolVersion });
    this.parser.on('packet', (p: Packet) => {
      this.received.push(p);
      this.wake();
    });
    ws.addEventListener('message', (event) => {
      const data = event.data;
      if (typeof data === 'string') throw new Error('broker sent a text frame');
      this.frames++;
      this.parser.parse(Buffer.from(data as ArrayBuffer));
    });
    ws.addEventListener('close', (event) => {
      this.closed = true;
      this.closeCode = event.code;
      this.wake();
    });
  }

  static async open(protocolVersion: 3 | 4 | 5 = 5, headers: Record<string, string> = {}): Promise<RawClient> {
    const res = await SELF.fetch('https://edge.example/mqtt', {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'mqtt', ...headers },
    });
    if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
    const ws = res.webSocket;
    // Newer compatibility dates deliver Blobs by default; the codec wants bytes.
    (ws as unknown as { binaryType: string }).binaryType = 'arraybuffer';
    ws.accept();
    return new RawClient(ws, protocolVersion, res.headers.get('sec-websocket-protocol'));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(packet: Packet | Record<string, unknown>): void {
    this.ws.send(mqtt.generate(packet as Packet, { protocolVersion: this.protocolVersion }));
  }

  sendBytes(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  async connect(fields: Record<string, unknown> = {}): Promise<Packet> {
    this.send(connectPacket(this.protocolVersion, fields));
    return this.next('connack');
  }

  /** Waits for (and removes) the first packet of that type. */
  async next<T extends Packet = Packet>(cmd: Packet['cmd'], timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.received.splice(i, 1)[0] as T;
      if (this.closed) throw new Error(`connection closed (${this.closeCode}) while waiting for ${cmd}; got ${this.received.map((p) => p.cmd).join(',')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd}; got ${this.received.map((p) => p.cmd).join(',') || 'nothing'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closeCode;
  }

  /** Lets in-flight frames arrive, then returns (and removes) what came of that type. */
  async drain<T extends Packet = Packet>(cmd: Packet['cmd'], settleMs = 200): Promise<T[]> {
    await new Promise((r) => setTimeout(r, settleMs));
    const out = this.received.filter((p) => p.cmd === cmd) as T[];
    for (const p of out) this.received.splice(this.received.indexOf(p), 1);
    return out;
  }

  close(): void {
    try {
      this.ws.close(1000, 'bye');
    } catch {
      // already closed
    }
  }
}

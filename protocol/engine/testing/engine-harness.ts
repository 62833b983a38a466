import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { BrokerEngine } from '../broker-engine';
import { defaultBrokerConfig, type BrokerConfig } from '../../config';
import type { Authenticator, Authorizer, ConnectionSnapshot, Transport, TrustedContext } from '../../ports';
import { allowAllAuthorizer } from '../../ports';
import { MemorySessionStore } from '../../store/memory-session-store';
import type { SessionStore } from '../../store/session-store';
import type { ClusterNode } from '../../cluster/cluster-node';

/**
 * Runs the engine in-process for unit tests: a manual clock, an in-memory
 * store, and clients that speak real MQTT bytes (encoded and decoded with
 * mqtt-packet, independently of the broker's own codec).
 */
export class ManualClock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface HarnessOptions {
  config?: Partial<BrokerConfig>;
  store?: SessionStore;
  clock?: ManualClock;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** This engine's place in a cluster: a new node per boot, as a restarted shard gets (protocol/cluster/testing). */
  cluster?: () => ClusterNode;
  /** BrokerEngineDeps.sessionStored. */
  sessionStored?: (clientId: string) => void;
}

export class EngineHarness {
  readonly clock: ManualClock;
  readonly store: SessionStore;
  readonly config: BrokerConfig;
  engine!: BrokerEngine;
  readonly clients = new Map<string, TestClient>();
  readonly snapshots = new Map<string, ConnectionSnapshot>();
  private counter = 0;
  private readonly options: HarnessOptions;

  constructor(options: HarnessOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? new ManualClock();
    this.store = options.store ?? new MemorySessionStore();
    this.config = { ...defaultBrokerConfig, ...options.config };
    this.boot([]);
  }

  private boot(snapshots: ConnectionSnapshot[]): void {
    const transport: Transport = {
      send: (id, bytes) => this.clients.get(id)?.deliver(bytes),
      close: (id) => this.clients.get(id)?.markClosed(),
      saveConnectionSnapshot: (id, snapshot) => this.snapshots.set(id, structuredClone(snapshot)),
    };
    this.engine = new BrokerEngine({
      config: this.config,
      store: this.store,
      transport,
      clock: this.clock,
      authenticator: this.options.authenticator ?? { authenticate: (r) => ({ ok: true, username: r.username }) },
      authorizer: this.options.authorizer ?? allowAllAuthorizer,
      cluster: this.options.cluster?.(),
      sessionStored: this.options.sessionStored,
    });
    this.engine.restore(snapshots);
    this.engine.endConnectionsLostWhileAway();
  }

  /**
   * Simulates hibernation: memory is lost, open sockets and storage stay.
   * The platform hibernates an object only after about ten seconds without
   * an event, so first the time passes in which the alarm would have run
   * whatever falls due within hibernationGuardMs (config.ts).
   */
  hibernate(): void {
    this.tick(this.config.hibernationGuardMs);
    const live = [...this.clients.values()].filter((c) => !c.closed).map((c) => this.snapshots.get(c.id)!).filter(Boolean);
    this.boot(live);
  }

  /** Simulates eviction or restart: memory and every socket are lost, storage stays. */
  restart(): void {
    for (const c of this.clients.values()) c.markClosed();
    this.clients.clear();
    this.boot([]);
  }

  client(protocolVersion: 3 | 4 | 5 = 5, trusted: Partial<TrustedContext> = {}): TestClient {
    const id = `conn-${++this.counter}`;
    const client = new TestClient(this, id, protocolVersion);
    this.clients.set(id, client);
    this.engine.openConnection(id, { ip: '192.0.2.1', tls: false, tlsClientAuth: null, subprotocol: 'mqtt', ...trusted });
    return client;
  }

  tick(ms: number): void {
    this.clock.advance(ms);
    const due = this.engine.nextWakeAt();
    if (due !== null && due <= this.clock.now()) this.engine.onTimer();
  }
}

export class TestClient {
  readonly received: Packet[] = [];
  /** Every buffer the engine sent to this client, as it sent it. */
  readonly frames: Uint8Array[] = [];
  closed = false;
  private readonly parser: ReturnType<typeof mqtt.parser>;

  constructor(
    private readonly harness: EngineHarness,
    readonly id: string,
    readonly protocolVersion: 3 | 4 | 5,
  ) {
    this.parser = mqtt.parser({ protocolVersion });
    this.parser.on('packet', (p: Packet) => this.received.push(p));
    this.parser.on('error', (e: Error) => {
      throw e;
    });
  }

  deliver(bytes: Uint8Array): void {
    this.frames.push(bytes);
    this.parser.parse(Buffer.from(bytes));
  }

  markClosed(): void {
    this.closed = true;
  }

  /** Sends a packet; awaits the engine when it went asynchronous (CONNECT). */
  async send(packet: Packet | Record<string, unknown>): Promise<void> {
    const bytes = mqtt.generate(packet as Packet, { protocolVersion: this.protocolVersion });
    await this.harness.engine.receive(this.id, new Uint8Array(bytes));
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.harness.engine.receive(this.id, bytes);
  }

  async connect(fields: Record<string, unknown> = {}): Promise<Packet> {
    await this.send({
      cmd: 'connect',
      protocolId: this.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.protocolVersion,
      clean: true,
      keepalive: 0,
      clientId: this.id,
      ...fields,
    });
    return this.take('connack');
  }

  /** Removes and returns the first received packet of that type; throws when there is none. */
  take<T extends Packet = Packet>(cmd: Packet['cmd']): T {
    const i = this.received.findIndex((p) => p.cmd === cmd);
    if (i < 0) throw new Error(`${this.id}: no ${cmd} received; got ${this.received.map((p) => p.cmd).join(',') || 'nothing'}`);
    return this.received.splice(i, 1)[0] as T;
  }

  all<T extends Packet = Packet>(cmd: Packet['cmd']): T[] {
    const out = this.received.filter((p) => p.cmd === cmd) as T[];
    for (const p of out) this.received.splice(this.received.indexOf(p), 1);
    return out;
  }

  close(): void {
    this.closed = true;
    this.harness.engine.connectionLost(this.id);
  }
}

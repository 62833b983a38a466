import mqtt from 'mqtt';

/**
 * A numbered QoS 1 or 2 flow between persistent sessions, for tests and soaks
 * that disturb the broker (restarts, kills) and then check that everything
 * acknowledged arrived, QoS 2 exactly once.
 */
export interface NumberedFlow {
  qos: 1 | 2;
  topic: string;
  published: number;
  /** Numbers whose PUBACK / PUBCOMP arrived. */
  acked: Set<number>;
  /** How many times each number was delivered. */
  received: Map<number, number>;
}

export function numberedFlow(qos: 1 | 2, topic: string): NumberedFlow {
  return { qos, topic, published: 0, acked: new Set(), received: new Map() };
}

/** MQTT.js with a persistent session (MQTT 5, one hour) that reconnects on its own. */
export function persistentClient(wsUrl: string, clientId: string): mqtt.MqttClient {
  return mqtt.connect(wsUrl, {
    clientId,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 300,
    connectTimeout: 10_000,
    keepalive: 30,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes numbered messages with at most `window` unacknowledged, until stopped. */
export function publishNumbered(pub: mqtt.MqttClient, flow: NumberedFlow, running: () => boolean, window: number): Promise<void> {
  let inFlight = 0;
  return (async () => {
    while (running()) {
      if (inFlight >= window || !pub.connected) {
        await sleep(10);
        continue;
      }
      const n = flow.published++;
      inFlight++;
      pub.publish(flow.topic, String(n), { qos: flow.qos }, (err) => {
        inFlight--;
        if (!err) flow.acked.add(n);
      });
      if (n % 10 === 0) await sleep(1);
    }
  })();
}

/** Counts each delivery of a flow's numbers on `sub`. */
export function countDeliveries(sub: mqtt.MqttClient, flows: NumberedFlow[]): void {
  sub.on('message', (topic, payload) => {
    const flow = flows.find((f) => f.topic === topic);
    if (!flow) return;
    const n = Number(payload.toString());
    flow.received.set(n, (flow.received.get(n) ?? 0) + 1);
  });
}

/** Acknowledged numbers never delivered, and (QoS 2) numbers delivered more than once. */
export function flowFaults(flow: NumberedFlow): { missing: number[]; duplicates: number[] } {
  return {
    missing: [...flow.acked].filter((n) => !flow.received.has(n)),
    duplicates: flow.qos === 2 ? [...flow.received].filter(([, count]) => count > 1).map(([n]) => n) : [],
  };
}

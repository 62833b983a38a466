import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { CheckboxField, SelectField, TextAreaField, TextField } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { formatTime } from '../lib/format';

/**
 * A small MQTT client in the browser (MQTT.js over WebSocket), to try
 * credentials and ACLs exactly as a device would see them.
 */
type Status = 'disconnected' | 'connecting' | 'connected';

interface Received {
  id: number;
  at: number;
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

const MAX_MESSAGES = 200;

function defaultUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/mqtt`;
}

function randomClientId(): string {
  return `dashboard-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
}

export function MqttClientPage() {
  const [url, setUrl] = useState(defaultUrl);
  const [clientId, setClientId] = useState(randomClientId);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [protocolVersion, setProtocolVersion] = useState<'4' | '5'>('5');
  const [clean, setClean] = useState(true);
  const [keepalive, setKeepalive] = useState('60');
  const [status, setStatus] = useState<Status>('disconnected');
  const [lastError, setLastError] = useState<string | null>(null);
  const [log, setLog] = useState<string[]>([]);
  const [subs, setSubs] = useState<{ topic: string; qos: number }[]>([]);
  const [subTopic, setSubTopic] = useState('#');
  const [subQos, setSubQos] = useState('0');
  const [pubTopic, setPubTopic] = useState('');
  const [pubPayload, setPubPayload] = useState('');
  const [pubQos, setPubQos] = useState('0');
  const [pubRetain, setPubRetain] = useState(false);
  const [messages, setMessages] = useState<Received[]>([]);
  const client = useRef<MqttClient | null>(null);
  const nextId = useRef(1);

  const note = (text: string) => setLog((l) => [`${new Date().toLocaleTimeString()} ${text}`, ...l].slice(0, 50));

  useEffect(() => () => void client.current?.end(true), []);

  const connect = (event: FormEvent) => {
    event.preventDefault();
    client.current?.end(true);
    setLastError(null);
    setStatus('connecting');
    setSubs([]);
    const options: IClientOptions = {
      clientId,
      username: username || undefined,
      password: password || undefined,
      protocolVersion: Number(protocolVersion) as 4 | 5,
      clean,
      keepalive: Number(keepalive) || 0,
      // A refused login should stay visible, not retry in a loop.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    };
    note(`Connecting to ${url} as ${clientId}${username ? ` (user ${username})` : ''}…`);
    const c = mqtt.connect(url, options);
    client.current = c;
    c.on('connect', (connack) => {
      setStatus('connected');
      note(`Connected (session present: ${connack.sessionPresent ? 'yes' : 'no'})`);
    });
    c.on('error', (error) => {
      const code = (error as Error & { code?: number }).code;
      const text = code !== undefined ? `${error.message} (code ${code})` : error.message;
      setLastError(text);
      note(`Error: ${text}`);
    });
    c.on('close', () => {
      if (client.current !== c) return;
      setStatus('disconnected');
      note('Connection closed');
    });
    c.on('disconnect', (packet) => note(`Server sent DISCONNECT (reason ${packet.reasonCode ?? 0})`));
    c.on('message', (topic, payload, packet) => {
      const id = nextId.current++;
      const text = new TextDecoder().decode(payload);
      setMessages((list) => [{ id, at: Date.now(), topic, payload: text, qos: packet.qos, retain: packet.retain }, ...list].slice(0, MAX_MESSAGES));
    });
  };

  const disconnect = () => {
    const c = client.current;
    if (!c) return;
    c.end(false, {}, () => {
      setStatus('disconnected');
      note('Disconnected');
    });
  };

  const subscribe = (event: FormEvent) => {
    event.preventDefault();
    const c = client.current;
    if (!c || !subTopic) return;
    const qos = Number(subQos) as 0 | 1 | 2;
    c.subscribe(subTopic, { qos }, (error, granted) => {
      if (error) {
        note(`Subscribe failed: ${error.message}`);
        return;
      }
      const g = granted?.[0];
      if (g && g.qos >= 0x80) {
        note(`Subscribe to ${subTopic} refused (reason 0x${g.qos.toString(16)})`);
        return;
      }
      note(`Subscribed to ${subTopic} (granted QoS ${g?.qos ?? qos})`);
      setSubs((list) => [...list.filter((s) => s.topic !== subTopic), { topic: subTopic, qos: g?.qos ?? qos }]);
    });
  };

  const unsubscribe = (topic: string) => {
    client.current?.unsubscribe(topic, () => {
      note(`Unsubscribed from ${topic}`);
      setSubs((list) => list.filter((s) => s.topic !== topic));
    });
  };

  const publish = (event: FormEvent) => {
    event.preventDefault();
    const c = client.current;
    if (!c || !pubTopic) return;
    c.publish(pubTopic, pubPayload, { qos: Number(pubQos) as 0 | 1 | 2, retain: pubRetain }, (error, packet) => {
      if (error) note(`Publish failed: ${error.message}`);
      else {
        const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
        note(rc && rc >= 0x80 ? `Publish to ${pubTopic} refused (reason 0x${rc.toString(16)})` : `Published to ${pubTopic}`);
      }
    });
  };

  const connected = status === 'connected';
  return (
    <section>
      <PageHeader title="MQTT client" description="Connect from this browser over WebSocket with any credentials, then subscribe and publish." />
      <div className="mqtt-grid">
        <form className="panel form" onSubmit={connect} aria-labelledby="conn-title">
          <h2 id="conn-title">
            Connection{' '}
            <span className={`badge ${connected ? 'badge-true' : status === 'connecting' ? 'badge-share' : ''}`} data-testid="mqtt-status" role="status">
              {status}
            </span>
          </h2>
          <TextField label="URL" name="url" value={url} onChange={setUrl} required />
          <div className="form-grid">
            <TextField label="Client ID" name="mqttClientId" value={clientId} onChange={setClientId} />
            <SelectField
              label="Protocol"
              name="protocolVersion"
              value={protocolVersion}
              onChange={(v) => setProtocolVersion(v as '4' | '5')}
              options={[
                { value: '5', label: 'MQTT 5.0' },
                { value: '4', label: 'MQTT 3.1.1' },
              ]}
            />
            <TextField label="Username" name="mqttUsername" value={username} onChange={setUsername} autoComplete="off" />
            <TextField label="Password" name="mqttPassword" type="password" value={password} onChange={setPassword} autoComplete="new-password" />
            <TextField label="Keep alive (s)" name="keepalive" type="number" value={keepalive} onChange={setKeepalive} />
            <CheckboxField label="Clean start" checked={clean} onChange={setClean} />
          </div>
          {lastError && (
            <p className="form-error" role="alert" data-testid="mqtt-error">
              {lastError}
            </p>
          )}
          <div className="row-actions">
            <button type="submit" className="btn btn-primary" disabled={status === 'connecting'}>
              {connected ? 'Reconnect' : 'Connect'}
            </button>
            <button type="button" className="btn" onClick={disconnect} disabled={!connected}>
              Disconnect
            </button>
          </div>
        </form>

        <div className="panel">
          <form className="form" onSubmit={subscribe} aria-labelledby="sub-title">
            <h2 id="sub-title">Subscribe</h2>
            <TopicAndQos topicLabel="Topic filter" form="sub" topic={subTopic} onTopic={setSubTopic} qos={subQos} onQos={setSubQos} />
            <button type="submit" className="btn" disabled={!connected}>
              Subscribe
            </button>
          </form>
          {subs.length > 0 && (
            <ul className="chip-list" aria-label="Subscriptions">
              {subs.map((s) => (
                <li key={s.topic} className="chip">
                  <code>{s.topic}</code> QoS {s.qos}
                  <button type="button" className="btn btn-icon" aria-label={`Unsubscribe from ${s.topic}`} onClick={() => unsubscribe(s.topic)}>
                    ×
                  </button>
                </li>
              ))}
            </ul>
          )}
          <form className="form" onSubmit={publish} aria-labelledby="pub-title">
            <h2 id="pub-title">Publish</h2>
            <TopicAndQos topicLabel="Topic" form="pub" topic={pubTopic} onTopic={setPubTopic} qos={pubQos} onQos={setPubQos} />
            <TextAreaField label="Payload" name="pubPayload" rows={3} value={pubPayload} onChange={setPubPayload} />
            <CheckboxField label="Retain" checked={pubRetain} onChange={setPubRetain} />
            <button type="submit" className="btn" disabled={!connected}>
              Publish
            </button>
          </form>
        </div>
      </div>

      <section className="panel" aria-labelledby="messages-title">
        <div className="panel-header">
          <h2 id="messages-title">Messages ({messages.length})</h2>
          <button type="button" className="btn btn-small" onClick={() => setMessages([])} disabled={messages.length === 0}>
            Clear
          </button>
        </div>
        {messages.length === 0 ? (
          <p className="muted">Messages on subscribed topics appear here.</p>
        ) : (
          <div className="table-wrap">
            <table className="data-table" data-testid="mqtt-messages">
              <caption className="visually-hidden">Received messages</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Topic</th>
                  <th scope="col">Payload</th>
                  <th scope="col">QoS</th>
                  <th scope="col">Retained</th>
                </tr>
              </thead>
              <tbody>
                {messages.map((m) => (
                  <tr key={m.id}>
                    <td>{formatTime(m.at)}</td>
                    <td>
                      <code>{m.topic}</code>
                    </td>
                    <td className="payload-preview">{m.payload}</td>
                    <td>{m.qos}</td>
                    <td>{m.retain ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section className="panel" aria-labelledby="log-title">
        <h2 id="log-title">Log</h2>
        <ol className="client-log" data-testid="mqtt-log">
          {log.map((line, i) => (
            <li key={log.length - i}>{line}</li>
          ))}
        </ol>
      </section>
    </section>
  );
}

const QOS_OPTIONS = ['0', '1', '2'].map((q) => ({ value: q, label: q }));

/** The first row of the subscribe and publish forms: a topic (or filter) and its QoS, named `${form}Topic` and `${form}Qos`. */
function TopicAndQos(props: { topicLabel: string; form: 'sub' | 'pub'; topic: string; onTopic: (v: string) => void; qos: string; onQos: (v: string) => void }) {
  return (
    <div className="form-grid">
      <TextField label={props.topicLabel} name={`${props.form}Topic`} value={props.topic} onChange={props.onTopic} required />
      <SelectField label="QoS" name={`${props.form}Qos`} value={props.qos} onChange={props.onQos} options={QOS_OPTIONS} />
    </div>
  );
}

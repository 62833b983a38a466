// aedes over WebSocket in its own process, so the load generator does not share its CPU.
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
const wss = new WebSocketServer({ host: '127.0.0.1', port, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
wss.on('connection', (ws) => broker.handle(createWebSocketStream(ws)));
wss.on('listening', () => process.stdout.write('ready\n'));

import { readFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/**
 * Samples the EdgeMQ Worker's isolate (Worker and Durable Object share it)
 * through workerd's V8 inspector, and attributes the
 * time to the original TypeScript files through the bundle's source map, so
 * a missed target points at code rather than at a process.
 */

interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  name: string;
  ms: number;
}

export interface ProfileSummary {
  sampledMs: number;
  idleMs: number;
  /** Self time per source file (or runtime bucket), largest first. */
  files: Hotspot[];
  /** Self time per function with its original location, largest first. */
  functions: Hotspot[];
  profile: CpuProfile;
}

export interface Profiler {
  stop(): Promise<ProfileSummary>;
}

class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly scripts = new Map<string, { url: string; sourceMapURL: string }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as {
        id?: number;
        method?: string;
        params?: { scriptId: string; url: string; sourceMapURL: string };
        result?: unknown;
        error?: { message: string };
      };
      if (msg.method === 'Debugger.scriptParsed' && msg.params) {
        this.scripts.set(msg.params.scriptId, { url: msg.params.url, sourceMapURL: msg.params.sourceMapURL });
        return;
      }
      const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id!);
      if (msg.error) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result);
    });
    ws.on('close', () => {
      for (const w of this.pending.values()) w.reject(new Error('inspector connection closed'));
      this.pending.clear();
    });
  }

  static async open(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector at ${url} did not answer`)), 10_000);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return new Inspector(ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      // The isolate answers only between events, so a backlog of queued frames delays Profiler.stop.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, 90_000);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** The inspector target of the user Worker (Miniflare names it `core:user:<worker name>`). */
export async function workerTarget(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(10_000) });
  const targets = (await res.json()) as { id: string; webSocketDebuggerUrl?: string }[];
  const target = targets.find((t) => t.id.startsWith('core:user:'));
  if (!target) throw new Error(`no Worker among the inspector targets: ${targets.map((t) => t.id).join(', ')}`);
  return target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`;
}

export async function startProfiler(port: number, projectRoot: string): Promise<Profiler> {
  const inspector = await Inspector.open(await workerTarget(port));
  // Debugger.enable is what reports scripts with their source-map URLs.
  await inspector.send('Debugger.enable');
  await inspector.send('Profiler.enable');
  await inspector.send('Profiler.setSamplingInterval', { interval: 250 });
  await inspector.send('Profiler.start');
  return {
    async stop() {
      try {
        const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop');
        await inspector.send('Debugger.disable').catch(() => {});
        return await summarize(profile, inspector.scripts, projectRoot);
      } finally {
        inspector.close();
      }
    },
  };
}

const RUNTIME_BUCKETS: Record<string, string> = {
  '(program)': '(program): workerd outside JavaScript',
  '(garbage collector)': '(garbage collector)',
};

async function summarize(profile: CpuProfile, scripts: Inspector['scripts'], projectRoot: string): Promise<ProfileSummary> {
  const maps = new Map<string, { map: SourceMap; dir: string } | null>();
  const mapFor = async (scriptId: string) => {
    if (maps.has(scriptId)) return maps.get(scriptId)!;
    let found: { map: SourceMap; dir: string } | null = null;
    const script = scripts.get(scriptId);
    if (script?.sourceMapURL && script.url.startsWith('file:')) {
      try {
        const mapPath = path.resolve(path.dirname(fileURLToPath(script.url)), script.sourceMapURL);
        found = { map: new SourceMap(JSON.parse(await readFile(mapPath, 'utf8'))), dir: path.dirname(mapPath) };
      } catch {
        found = null;
      }
    }
    maps.set(scriptId, found);
    return found;
  };

  const selfMicros = new Map<number, number>();
  profile.samples.forEach((nodeId, i) => selfMicros.set(nodeId, (selfMicros.get(nodeId) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const byFile = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0;
    if (micros === 0) continue;
    sampled += micros;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    // Frames without a script are V8's own buckets or calls into runtime APIs (ws.send, fetch, …).
    const builtin = !cf.url && !cf.functionName.startsWith('(');
    let file = cf.url || RUNTIME_BUCKETS[cf.functionName] || (builtin ? '(runtime APIs called from JavaScript)' : cf.functionName || '(unknown)');
    let where = cf.url ? `${cf.url}:${cf.lineNumber + 1}` : '';
    let name = RUNTIME_BUCKETS[cf.functionName] ?? (builtin ? `${cf.functionName} (runtime API)` : cf.functionName || '(anonymous)');
    const mapped = cf.url ? await mapFor(cf.scriptId) : null;
    if (mapped) {
      const entry = mapped.map.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number; name?: string };
      if (entry.originalSource) {
        file = relativeSource(entry.originalSource, mapped.dir, projectRoot);
        where = `${file}:${(entry.originalLine ?? 0) + 1}`;
        if (!cf.functionName && entry.name) name = entry.name;
      }
    }
    byFile.set(file, (byFile.get(file) ?? 0) + micros);
    const key = where ? `${name} (${where})` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const ranked = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, micros]) => ({ name, ms: micros / 1000 }));
  return { sampledMs: sampled / 1000, idleMs: idle / 1000, files: ranked(byFile), functions: ranked(byFunction), profile };
}

function relativeSource(source: string, mapDir: string, projectRoot: string): string {
  let file = source;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  if (!path.isAbsolute(file)) file = path.resolve(mapDir, file);
  // Dependencies may sit behind a symlinked node_modules, outside the project.
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) return file.slice(nm);
  const rel = path.relative(projectRoot, file);
  return rel.startsWith('..') ? source.replace(/^(\.\.\/)+/, '') : rel;
}

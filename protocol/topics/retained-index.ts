interface RetainedEntry<T> {
  topic: string;
  value: T;
}

/** One topic level; the children map is created on first use. */
class RetainedNode<T> {
  children: Map<string, RetainedNode<T>> | undefined;
  entry: RetainedEntry<T> | undefined;
}

const DOLLAR = 0x24;

/**
 * Retained messages by topic. A flat map answers exact lookups; a trie over
 * the same entries lets a SUBSCRIBE walk only the branches its filter can
 * match rather than every retained topic.
 */
export class RetainedIndex<T> {
  private readonly root = new RetainedNode<T>();
  private readonly byTopic = new Map<string, RetainedEntry<T>>();
  private nodes = 0;

  set(topic: string, value: T): void {
    const existing = this.byTopic.get(topic);
    if (existing) {
      existing.value = value;
      return;
    }
    let node = this.root;
    for (const level of topic.split('/')) {
      node.children ??= new Map();
      let next = node.children.get(level);
      if (!next) {
        next = new RetainedNode<T>();
        node.children.set(level, next);
        this.nodes++;
      }
      node = next;
    }
    const entry: RetainedEntry<T> = { topic, value };
    node.entry = entry;
    this.byTopic.set(topic, entry);
  }

  get(topic: string): T | undefined {
    return this.byTopic.get(topic)?.value;
  }

  delete(topic: string): boolean {
    if (!this.byTopic.delete(topic)) return false;
    const levels = topic.split('/');
    const path: RetainedNode<T>[] = [this.root];
    let node = this.root;
    for (const level of levels) {
      const next = node.children?.get(level);
      if (!next) return true;
      path.push(next);
      node = next;
    }
    node.entry = undefined;
    // Prune emptied branches so publish/clear churn cannot grow memory.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i];
      if (n.entry || n.children) break;
      const parent = path[i - 1];
      parent.children!.delete(levels[i - 1]);
      if (parent.children!.size === 0) parent.children = undefined;
      this.nodes--;
    }
    return true;
  }

  /**
   * Every stored topic matching a validated, non-shared filter. Wildcards at
   * the first level skip topics starting with '$' [MQTT-4.7.2-1].
   */
  match(filter: string): Array<{ topic: string; value: T }> {
    const out: Array<{ topic: string; value: T }> = [];
    const levels = filter.split('/');
    const last = levels.length;
    // An explicit stack: depth is bounded only by the configured level limit.
    const nodes: RetainedNode<T>[] = [this.root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const depth = depths.pop()!;
      if (depth === last) {
        if (node.entry) out.push({ topic: node.entry.topic, value: node.entry.value });
        continue;
      }
      const level = levels[depth];
      if (level === '#') {
        // The parent level itself matches too: 'a/#' matches 'a' [MQTT-4.7.1-1].
        if (depth > 0 && node.entry) out.push({ topic: node.entry.topic, value: node.entry.value });
        if (node.children) collectBelow(node.children, depth === 0, out);
        continue;
      }
      if (level === '+') {
        if (!node.children) continue;
        for (const [name, child] of node.children) {
          if (depth === 0 && name.charCodeAt(0) === DOLLAR) continue;
          nodes.push(child);
          depths.push(depth + 1);
        }
        continue;
      }
      const child = node.children?.get(level);
      if (child) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
    return out;
  }

  get size(): number {
    return this.byTopic.size;
  }

  /** Trie nodes below the root; zero once every message is gone. */
  get nodeCount(): number {
    return this.nodes;
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [topic, entry] of this.byTopic) yield [topic, entry.value];
  }
}

/** Every entry in and under the given children. */
function collectBelow<T>(children: Map<string, RetainedNode<T>>, skipDollar: boolean, out: Array<{ topic: string; value: T }>): void {
  const stack: RetainedNode<T>[] = [];
  for (const [name, child] of children) {
    if (skipDollar && name.charCodeAt(0) === DOLLAR) continue;
    stack.push(child);
  }
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.entry) out.push({ topic: node.entry.topic, value: node.entry.value });
    if (node.children) for (const child of node.children.values()) stack.push(child);
  }
}

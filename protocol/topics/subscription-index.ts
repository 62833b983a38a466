import { parseSharedFilter } from './validate';

export interface IndexedSubscription<T> {
  clientId: string;
  /** As subscribed, including any `$share/<group>/` prefix. */
  filter: string;
  value: T;
}

export interface SharedGroupMatch<T> {
  group: string;
  /** The full `$share/<group>/<filter>` string. */
  filter: string;
  /** Insertion order, so round-robin is stable. */
  members: IndexedSubscription<T>[];
}

export interface TopicMatches<T> {
  direct: IndexedSubscription<T>[];
  shared: SharedGroupMatch<T>[];
}

class TrieNode<T> {
  readonly children = new Map<string, TrieNode<T>>();
  /** Non-shared subscriptions ending here, keyed by client id. */
  readonly direct = new Map<string, IndexedSubscription<T>>();
  /** Shared groups ending here, keyed by the full $share string. */
  readonly shared = new Map<string, { group: string; members: Map<string, IndexedSubscription<T>> }>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.direct.size === 0 && this.shared.size === 0;
  }
}

/**
 * Subscriptions in a topic trie, so a PUBLISH visits only the branches its
 * levels can match instead of every subscription. Shared subscriptions are
 * indexed by their inner filter (so the '$' rule applies to it) and grouped by
 * their full `$share/...` string.
 */
export class SubscriptionIndex<T> {
  private readonly root = new TrieNode<T>();
  private readonly byClient = new Map<string, Map<string, IndexedSubscription<T>>>();
  private count = 0;

  add(clientId: string, filter: string, value: T): void {
    const own = this.byClient.get(clientId) ?? new Map<string, IndexedSubscription<T>>();
    const existing = own.get(filter);
    if (existing) {
      // Replace in place, keeping its position among shared members.
      existing.value = value;
      return;
    }
    const entry: IndexedSubscription<T> = { clientId, filter, value };
    own.set(filter, entry);
    this.byClient.set(clientId, own);
    this.count++;
    const shared = parseSharedFilter(filter);
    const node = this.nodeFor(shared ? shared.filter : filter, true)!;
    if (shared) {
      let group = node.shared.get(filter);
      if (!group) {
        group = { group: shared.group, members: new Map() };
        node.shared.set(filter, group);
      }
      group.members.set(clientId, entry);
    } else {
      node.direct.set(clientId, entry);
    }
  }

  remove(clientId: string, filter: string): boolean {
    const own = this.byClient.get(clientId);
    if (!own?.has(filter)) return false;
    own.delete(filter);
    if (own.size === 0) this.byClient.delete(clientId);
    this.count--;
    const shared = parseSharedFilter(filter);
    const levels = (shared ? shared.filter : filter).split('/');
    const path: TrieNode<T>[] = [this.root];
    let node = this.root;
    for (const level of levels) {
      const next = node.children.get(level);
      if (!next) return true;
      path.push(next);
      node = next;
    }
    if (shared) {
      const group = node.shared.get(filter);
      group?.members.delete(clientId);
      if (group && group.members.size === 0) node.shared.delete(filter);
    } else {
      node.direct.delete(clientId);
    }
    // Prune empty branches so subscribe/unsubscribe churn cannot grow memory.
    for (let i = path.length - 1; i > 0; i--) {
      if (!path[i].isEmpty()) break;
      path[i - 1].children.delete(levels[i - 1]);
    }
    return true;
  }

  removeClient(clientId: string): void {
    const own = this.byClient.get(clientId);
    if (!own) return;
    for (const filter of [...own.keys()]) this.remove(clientId, filter);
  }

  get(clientId: string, filter: string): T | undefined {
    return this.byClient.get(clientId)?.get(filter)?.value;
  }

  forClient(clientId: string): IndexedSubscription<T>[] {
    return [...(this.byClient.get(clientId)?.values() ?? [])];
  }

  countForClient(clientId: string): number {
    return this.byClient.get(clientId)?.size ?? 0;
  }

  get size(): number {
    return this.count;
  }

  entries(): IndexedSubscription<T>[] {
    const out: IndexedSubscription<T>[] = [];
    for (const own of this.byClient.values()) out.push(...own.values());
    return out;
  }

  match(topic: string): TopicMatches<T> {
    const result: TopicMatches<T> = { direct: [], shared: [] };
    const levels = topic.split('/');
    // Wildcards at the first level never match '$' topics [MQTT-4.7.2-1].
    const dollar = topic.startsWith('$');
    const collect = (node: TrieNode<T>) => {
      for (const entry of node.direct.values()) result.direct.push(entry);
      for (const [filter, group] of node.shared) result.shared.push({ group: group.group, filter, members: [...group.members.values()] });
    };
    const visit = (node: TrieNode<T>, depth: number) => {
      const wildcardsAllowed = !(depth === 0 && dollar);
      if (wildcardsAllowed) {
        const hash = node.children.get('#');
        if (hash) collect(hash); // '#' also matches the parent level
      }
      if (depth === levels.length) {
        collect(node);
        return;
      }
      const exact = node.children.get(levels[depth]);
      if (exact) visit(exact, depth + 1);
      if (wildcardsAllowed) {
        const plus = node.children.get('+');
        if (plus) visit(plus, depth + 1);
      }
    };
    visit(this.root, 0);
    return result;
  }

  private nodeFor(filter: string, create: boolean): TrieNode<T> | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next = node.children.get(level);
      if (!next) {
        if (!create) return undefined;
        next = new TrieNode<T>();
        node.children.set(level, next);
      }
      node = next;
    }
    return node;
  }
}

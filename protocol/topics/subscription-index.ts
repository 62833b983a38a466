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
  /** Insertion order, so a round-robin cursor over it stays meaningful. */
  readonly members: readonly IndexedSubscription<T>[];
}

/** Read-only: match() may hand the same result out again. */
export interface TopicMatches<T> {
  readonly direct: readonly IndexedSubscription<T>[];
  readonly shared: readonly SharedGroupMatch<T>[];
}

/** What walk() builds before match() hands it out. */
interface MatchesBeingFound<T> {
  direct: IndexedSubscription<T>[];
  shared: SharedGroupMatch<T>[];
}

interface SharedGroup<T> {
  group: string;
  /** By client id; a Map keeps insertion order and a replaced member keeps its place. */
  members: Map<string, IndexedSubscription<T>>;
}

/**
 * One filter level. Wildcard children have their own slots so a PUBLISH
 * checks them without a map lookup, and so a literal topic level can never be
 * confused with a wildcard. Maps are created on first use: most nodes are
 * interior levels that hold nothing but one child.
 */
class TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined;
  plus: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  /** Non-shared subscriptions ending here, by client id (one filter string per node). */
  direct: Map<string, IndexedSubscription<T>> | undefined;
  /** Shared groups ending here, by their full `$share/...` string. */
  shared: Map<string, SharedGroup<T>> | undefined;

  child(level: string): TrieNode<T> | undefined {
    if (level === '+') return this.plus;
    if (level === '#') return this.hash;
    return this.children?.get(level);
  }

  attach(level: string, node: TrieNode<T>): void {
    if (level === '+') this.plus = node;
    else if (level === '#') this.hash = node;
    else (this.children ??= new Map()).set(level, node);
  }

  detach(level: string): void {
    if (level === '+') this.plus = undefined;
    else if (level === '#') this.hash = undefined;
    else if (this.children) {
      this.children.delete(level);
      if (this.children.size === 0) this.children = undefined;
    }
  }

  isEmpty(): boolean {
    return this.children === undefined && this.plus === undefined && this.hash === undefined && this.direct === undefined && this.shared === undefined;
  }
}

const NO_MEMBERS: readonly never[] = [];

/**
 * Bounds of what match() keeps between changes: topics, the subscriptions
 * their results hold together (a topic that 10,000 wildcard subscribers
 * match holds 10,000), and the length of a topic kept. Past either count
 * everything kept is forgotten at once.
 */
export const MATCH_CACHE_TOPICS = 1024;
export const MATCH_CACHE_SUBSCRIPTIONS = 65_536;
export const MATCH_CACHE_TOPIC_LENGTH = 256;

/**
 * Subscriptions in a topic trie, so a PUBLISH visits only the branches its
 * levels can match instead of every subscription. Shared subscriptions are
 * indexed by their inner filter (so the '$' rule applies to it) and grouped
 * by their full `$share/...` string.
 */
export class SubscriptionIndex<T> {
  private readonly root = new TrieNode<T>();
  private readonly byClient = new Map<string, Map<string, IndexedSubscription<T>>>();
  private count = 0;
  private nodes = 0;
  /**
   * What match() found for recent topics, until the next change to the
   * index: devices publish to the same topics again and again, and a look-up
   * by a topic string the memo of its connection hands back (TopicMemo)
   * finds its hash already computed, where the trie walk splits the topic
   * and builds its arrays anew. Emptied by every add of a new entry and every
   * removal; a replaced entry is the same object, so what is kept sees its
   * new value.
   */
  private readonly matched = new Map<string, TopicMatches<T>>();
  private matchedSubscriptions = 0;

  /** Adds or replaces; a replaced subscription keeps its place [MQTT-3.8.4-3]. */
  add(clientId: string, filter: string, value: T): void {
    let own = this.byClient.get(clientId);
    const existing = own?.get(filter);
    if (existing) {
      existing.value = value;
      return;
    }
    this.forgetMatches();
    const entry: IndexedSubscription<T> = { clientId, filter, value };
    const shared = parseSharedFilter(filter);
    const node = this.descend(shared ? shared.filter : filter);
    if (shared) {
      node.shared ??= new Map();
      let group = node.shared.get(filter);
      if (!group) {
        group = { group: shared.group, members: new Map() };
        node.shared.set(filter, group);
      }
      group.members.set(clientId, entry);
    } else {
      (node.direct ??= new Map()).set(clientId, entry);
    }
    if (!own) {
      own = new Map();
      this.byClient.set(clientId, own);
    }
    own.set(filter, entry);
    this.count++;
  }

  remove(clientId: string, filter: string): boolean {
    const own = this.byClient.get(clientId);
    if (!own?.delete(filter)) return false;
    if (own.size === 0) this.byClient.delete(clientId);
    this.count--;
    this.forgetMatches();

    const shared = parseSharedFilter(filter);
    const levels = (shared ? shared.filter : filter).split('/');
    const path: TrieNode<T>[] = [this.root];
    let node = this.root;
    for (const level of levels) {
      const next = node.child(level);
      if (!next) return true;
      path.push(next);
      node = next;
    }
    if (shared) {
      const group = node.shared?.get(filter);
      if (group) {
        group.members.delete(clientId);
        // The last member leaving ends the group.
        if (group.members.size === 0) node.shared!.delete(filter);
        if (node.shared!.size === 0) node.shared = undefined;
      }
    } else if (node.direct) {
      node.direct.delete(clientId);
      if (node.direct.size === 0) node.direct = undefined;
    }
    // Prune emptied branches so subscribe/unsubscribe churn cannot grow memory.
    for (let i = path.length - 1; i > 0 && path[i].isEmpty(); i--) {
      path[i - 1].detach(levels[i - 1]);
      this.nodes--;
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

  /** The members of one shared group, by its full `$share/<group>/<filter>` string (not copied: asked per message); none when it has none. */
  groupMembers(sharedFilter: string): Iterable<IndexedSubscription<T>> {
    const shared = parseSharedFilter(sharedFilter);
    if (!shared) return NO_MEMBERS;
    let node: TrieNode<T> | undefined = this.root;
    for (const level of shared.filter.split('/')) {
      node = node.child(level);
      if (!node) return NO_MEMBERS;
    }
    return node.shared?.get(sharedFilter)?.members.values() ?? NO_MEMBERS;
  }

  forClient(clientId: string): IndexedSubscription<T>[] {
    const own = this.byClient.get(clientId);
    return own ? [...own.values()] : [];
  }

  countForClient(clientId: string): number {
    return this.byClient.get(clientId)?.size ?? 0;
  }

  /** Number of (client, filter) entries. */
  get size(): number {
    return this.count;
  }

  /** Trie nodes below the root; zero once every subscription is gone. */
  get nodeCount(): number {
    return this.nodes;
  }

  /** Every (client, filter) entry, shared ones under their full `$share/...` string. */
  entries(): IndexedSubscription<T>[] {
    const out: IndexedSubscription<T>[] = [];
    for (const own of this.byClient.values()) for (const entry of own.values()) out.push(entry);
    return out;
  }

  /** Every subscription matching `topic`. The result may be kept and handed out again (its type is read-only). */
  match(topic: string): TopicMatches<T> {
    const kept = this.matched.get(topic);
    if (kept) return kept;
    const result = this.walk(topic);
    if (topic.length > MATCH_CACHE_TOPIC_LENGTH) return result;
    let size = result.direct.length;
    for (const g of result.shared) size += g.members.length;
    if (size > MATCH_CACHE_SUBSCRIPTIONS) return result;
    if (this.matched.size >= MATCH_CACHE_TOPICS || this.matchedSubscriptions + size > MATCH_CACHE_SUBSCRIPTIONS) this.forgetMatches();
    this.matched.set(topic, result);
    this.matchedSubscriptions += size;
    return result;
  }

  private forgetMatches(): void {
    if (this.matched.size === 0) return;
    this.matched.clear();
    this.matchedSubscriptions = 0;
  }

  private walk(topic: string): TopicMatches<T> {
    const result: MatchesBeingFound<T> = { direct: [], shared: [] };
    const levels = topic.split('/');
    const last = levels.length;
    // Wildcards at the first level never match a topic starting with '$' [MQTT-4.7.2-1].
    const dollar = topic.charCodeAt(0) === 0x24;
    // An explicit stack: depth is bounded only by the configured level limit.
    const nodes: TrieNode<T>[] = [this.root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const depth = depths.pop()!;
      const wildcards = depth > 0 || !dollar;
      // '#' matches this level and all below, including none: 'a/#' matches 'a'.
      if (wildcards && node.hash) collect(node.hash, result);
      if (depth === last) {
        collect(node, result);
        continue;
      }
      if (wildcards && node.plus) {
        nodes.push(node.plus);
        depths.push(depth + 1);
      }
      // Only literal levels live in `children`, so a topic level can never hit a wildcard node twice.
      const exact = node.children?.get(levels[depth]);
      if (exact) {
        nodes.push(exact);
        depths.push(depth + 1);
      }
    }
    return result;
  }

  private descend(filter: string): TrieNode<T> {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next = node.child(level);
      if (!next) {
        next = new TrieNode<T>();
        node.attach(level, next);
        this.nodes++;
      }
      node = next;
    }
    return node;
  }
}

function collect<T>(node: TrieNode<T>, result: MatchesBeingFound<T>): void {
  if (node.direct) for (const entry of node.direct.values()) result.direct.push(entry);
  if (node.shared) {
    for (const [filter, group] of node.shared) result.shared.push({ group: group.group, filter, members: [...group.members.values()] });
  }
}

class RetainedNode<T> {
  readonly children = new Map<string, RetainedNode<T>>();
  value: { topic: string; value: T } | undefined;
}

/**
 * Retained messages by topic, in a trie so that a SUBSCRIBE with wildcards
 * walks only matching branches rather than every retained topic.
 */
export class RetainedIndex<T> {
  private readonly root = new RetainedNode<T>();
  private readonly byTopic = new Map<string, T>();

  set(topic: string, value: T): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      let next = node.children.get(level);
      if (!next) {
        next = new RetainedNode<T>();
        node.children.set(level, next);
      }
      node = next;
    }
    node.value = { topic, value };
    this.byTopic.set(topic, value);
  }

  get(topic: string): T | undefined {
    return this.byTopic.get(topic);
  }

  delete(topic: string): boolean {
    if (!this.byTopic.delete(topic)) return false;
    const levels = topic.split('/');
    const path: RetainedNode<T>[] = [this.root];
    let node = this.root;
    for (const level of levels) {
      node = node.children.get(level)!;
      path.push(node);
    }
    node.value = undefined;
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i];
      if (n.value || n.children.size > 0) break;
      path[i - 1].children.delete(levels[i - 1]);
    }
    return true;
  }

  /** Every stored topic matching a (non-shared) filter, with the '$' rule [MQTT-4.7.2-1]. */
  match(filter: string): Array<{ topic: string; value: T }> {
    const out: Array<{ topic: string; value: T }> = [];
    const levels = filter.split('/');
    const all = (node: RetainedNode<T>, depth: number) => {
      if (node.value) out.push(node.value);
      for (const [level, child] of node.children) {
        if (depth === 0 && level.startsWith('$')) continue;
        all(child, depth + 1);
      }
    };
    const visit = (node: RetainedNode<T>, depth: number) => {
      if (depth === levels.length) {
        if (node.value) out.push(node.value);
        return;
      }
      const level = levels[depth];
      if (level === '#') {
        // '#' includes the parent level itself.
        if (node.value && depth > 0) out.push(node.value);
        for (const [name, child] of node.children) {
          if (depth === 0 && name.startsWith('$')) continue;
          all(child, depth + 1);
        }
        return;
      }
      if (level === '+') {
        for (const [name, child] of node.children) {
          if (depth === 0 && name.startsWith('$')) continue;
          visit(child, depth + 1);
        }
        return;
      }
      const child = node.children.get(level);
      if (child) visit(child, depth + 1);
    };
    visit(this.root, 0);
    return out;
  }

  get size(): number {
    return this.byTopic.size;
  }

  entries(): IterableIterator<[string, T]> {
    return this.byTopic.entries();
  }
}

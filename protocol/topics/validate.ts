export interface TopicLimits {
  /** In UTF-8 bytes. */
  maxLength: number;
  maxLevels: number;
}

const encoder = new TextEncoder();

function checkCommon(s: string, limits: TopicLimits, what: string): string | null {
  if (s.length === 0) return `${what} is empty`; // [MQTT-4.7.3-1]
  if (s.includes('\u0000')) return `${what} contains U+0000`; // [MQTT-4.7.3-2]
  if (encoder.encode(s).byteLength > limits.maxLength) return `${what} is longer than ${limits.maxLength} bytes`;
  let levels = 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 0x2f) levels++;
  if (levels > limits.maxLevels) return `${what} has more than ${limits.maxLevels} levels`;
  return null;
}

/** A topic name (PUBLISH, will): no wildcards [MQTT-3.3.2-2]. */
export function validateTopicName(topic: string, limits: TopicLimits): string | null {
  const common = checkCommon(topic, limits, 'topic name');
  if (common) return common;
  if (topic.includes('+') || topic.includes('#')) return 'topic name contains a wildcard';
  return null;
}

function validatePlainFilter(filter: string): string | null {
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#')) {
      // '#' must stand alone and be last [MQTT-4.7.1-1].
      if (level !== '#' || i !== levels.length - 1) return "'#' must be the last level on its own";
    }
    if (level.includes('+') && level !== '+') return "'+' must occupy a whole level"; // [MQTT-4.7.1-2]
  }
  return null;
}

/** A topic filter (SUBSCRIBE/UNSUBSCRIBE), including `$share/<group>/<filter>`. */
export function validateTopicFilter(filter: string, limits: TopicLimits): string | null {
  const common = checkCommon(filter, limits, 'topic filter');
  if (common) return common;
  if (filter.startsWith('$share/') || filter === '$share') {
    const rest = filter.slice('$share/'.length);
    const slash = rest.indexOf('/');
    if (filter === '$share' || slash < 0) return 'shared subscription needs $share/<group>/<filter>';
    const group = rest.slice(0, slash);
    const inner = rest.slice(slash + 1);
    // ShareName must be non-empty without '/', '+' or '#' [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    if (group.length === 0) return 'shared subscription group is empty';
    if (group.includes('+') || group.includes('#')) return 'shared subscription group contains a wildcard';
    if (inner.length === 0) return 'shared subscription filter is empty';
    return validatePlainFilter(inner);
  }
  return validatePlainFilter(filter);
}

/** `$share/g/a/b` -> { group: 'g', filter: 'a/b' }; other filters -> null. */
export function parseSharedFilter(filter: string): { group: string; filter: string } | null {
  if (!filter.startsWith('$share/')) return null;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  return { group: rest.slice(0, slash), filter: rest.slice(slash + 1) };
}

export function isWildcardFilter(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

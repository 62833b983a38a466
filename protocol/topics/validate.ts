export interface TopicLimits {
  /** In UTF-8 bytes, as on the wire. */
  maxLength: number;
  maxLevels: number;
}

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const NUL = 0x00;
const SHARE_PREFIX = '$share/';

/**
 * UTF-8 length without encoding: this runs on every PUBLISH, so no buffer is
 * allocated. A lone surrogate counts 3 bytes, as TextEncoder would write U+FFFD.
 */
export function exceedsByteLength(s: string, max: number): boolean {
  // Every UTF-16 unit is at least 1 and at most 3 UTF-8 bytes (a pair is 4 for 2 units).
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
    if (bytes > max) return true;
  }
  return false;
}

/**
 * A topic name (PUBLISH, will topic). Returns null when valid, else a short
 * reason.
 */
export function validateTopicName(topic: string, limits: TopicLimits): string | null {
  if (topic.length === 0) return 'topic name is empty'; // [MQTT-4.7.3-1]
  if (exceedsByteLength(topic, limits.maxLength)) return `topic name is longer than ${limits.maxLength} bytes`;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === SLASH) levels++;
    else if (c === PLUS || c === HASH) return 'topic name contains a wildcard'; // [MQTT-3.3.2-2]
    else if (c === NUL) return 'topic name contains U+0000'; // [MQTT-4.7.3-2]
  }
  if (levels > limits.maxLevels) return `topic name has more than ${limits.maxLevels} levels`;
  return null;
}

/**
 * A topic filter (SUBSCRIBE/UNSUBSCRIBE), including `$share/<group>/<filter>`.
 * Returns null when valid, else a short reason: either a rule of the spec
 * (filterSyntaxProblem) or one of this broker's limits.
 */
export function validateTopicFilter(filter: string, limits: TopicLimits): string | null {
  const syntax = filterSyntaxProblem(filter);
  if (syntax !== null) return syntax;
  if (exceedsByteLength(filter, limits.maxLength)) return `topic filter is longer than ${limits.maxLength} bytes`;
  if (filterLevels(filter) > limits.maxLevels) return `topic filter has more than ${limits.maxLevels} levels`;
  return null;
}

/**
 * What makes a filter break the spec's own rules, whatever the broker's
 * limits: empty, a misplaced wildcard, U+0000, or a malformed shared
 * subscription. A 3.1.1 client that sends one has made a protocol violation,
 * which closes the connection [MQTT-4.8.0-1]; 5.0 can refuse it per filter
 * (0x8F). Null when the filter keeps the rules.
 */
export function filterSyntaxProblem(filter: string): string | null {
  if (filter.length === 0) return 'topic filter is empty'; // [MQTT-4.7.3-1]
  let start = 0;
  if (filter.startsWith(SHARE_PREFIX)) {
    // ShareName: at least one character [MQTT-4.8.2-1], no '/', '+' or '#',
    // then '/' and a Topic Filter [MQTT-4.8.2-2].
    const slash = filter.indexOf('/', SHARE_PREFIX.length);
    if (slash < 0) return 'shared subscription needs $share/<group>/<filter>';
    if (slash === SHARE_PREFIX.length) return 'shared subscription group is empty';
    for (let i = SHARE_PREFIX.length; i < slash; i++) {
      const c = filter.charCodeAt(i);
      if (c === PLUS || c === HASH) return 'shared subscription group contains a wildcard';
      if (c === NUL) return 'topic filter contains U+0000'; // [MQTT-4.7.3-2]
    }
    if (slash + 1 === filter.length) return 'shared subscription filter is empty';
    start = slash + 1;
  } else if (filter === '$share') {
    return 'shared subscription needs $share/<group>/<filter>';
  }

  let levelStart = start;
  for (let i = start; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === SLASH) {
      levelStart = i + 1;
    } else if (c === HASH) {
      // On its own as the last level: [MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1.
      if (i !== levelStart || i !== filter.length - 1) return "'#' must be the last level on its own";
    } else if (c === PLUS) {
      // A whole level: [MQTT-4.7.1-2] in 5.0, [MQTT-4.7.1-3] in 3.1.1.
      const next = i + 1 < filter.length ? filter.charCodeAt(i + 1) : SLASH;
      if (i !== levelStart || next !== SLASH) return "'+' must occupy a whole level";
    } else if (c === NUL) {
      return 'topic filter contains U+0000'; // [MQTT-4.7.3-2]
    }
  }
  return null;
}

/**
 * Levels are counted in the filter that is matched, so a shared subscription
 * can reach the same depth as a plain one.
 */
function filterLevels(filter: string): number {
  const shared = parseSharedFilter(filter);
  const matched = shared ? shared.filter : filter;
  let levels = 1;
  for (let i = 0; i < matched.length; i++) if (matched.charCodeAt(i) === SLASH) levels++;
  return levels;
}

/** Whether a validated filter is a shared subscription's (`$share/<group>/<filter>`). */
export function isSharedFilter(filter: string): boolean {
  return filter.startsWith(SHARE_PREFIX);
}

/** `$share/g/a/b` -> { group: 'g', filter: 'a/b' }; other filters -> null. Expects a validated filter. */
export function parseSharedFilter(filter: string): { group: string; filter: string } | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return null;
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/** Whether a validated filter contains '+' or '#' (a ShareName cannot). */
export function isWildcardFilter(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/**
 * MQTT topic matching of one topic name against one (non-shared, validated)
 * filter. '+' matches exactly one level, possibly empty; '#' matches the
 * parent level and every level below it, so 'a/#' matches 'a' [MQTT-4.7.1-1].
 * Walks both strings in place instead of splitting them.
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  // A wildcard first level never matches a topic starting with '$' [MQTT-4.7.2-1].
  if (topic.charCodeAt(0) === DOLLAR) {
    const first = filter.charCodeAt(0);
    if (first === PLUS || first === HASH) return false;
  }
  const tl = topic.length;
  const fl = filter.length;
  // Both cursors sit at the start of a level; a cursor past the end means no levels are left.
  let t = 0;
  let f = 0;
  while (f <= fl) {
    let fEnd = filter.indexOf('/', f);
    if (fEnd < 0) fEnd = fl;
    const wholeWildcard = fEnd === f + 1 ? filter.charCodeAt(f) : -1;
    if (wholeWildcard === HASH) return true;
    if (t > tl) return false;
    let tEnd = topic.indexOf('/', t);
    if (tEnd < 0) tEnd = tl;
    if (wholeWildcard !== PLUS) {
      if (fEnd - f !== tEnd - t) return false;
      for (let i = 0; i < fEnd - f; i++) {
        if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false;
      }
    }
    f = fEnd + 1;
    t = tEnd + 1;
  }
  return t > tl;
}

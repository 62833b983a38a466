/**
 * MQTT topic matching. '+' matches one level, '#' the parent level and
 * everything below; a topic starting with '$' is not matched by a filter
 * starting with a wildcard [MQTT-4.7.2-1].
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const t = topic.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true; // also matches the parent: 'a/#' matches 'a' [MQTT-4.7.1-2 note]
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return t.length === f.length;
}

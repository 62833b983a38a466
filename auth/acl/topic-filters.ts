/**
 * Level-wise comparisons of split topics and filters for the ACL evaluator.
 * Inputs are already split on '/', so each rule is split once per snapshot
 * and each topic once per uncached decision.
 */

const isDollar = (level: string | undefined): boolean => level !== undefined && level.charCodeAt(0) === 0x24;

/**
 * Does the concrete topic match the ACL filter? MQTT matching, plus
 * mosquitto's rule that a topic starting with '$' is only matched by a filter
 * that starts with the same literal, so `#` or `+/...` never reach `$SYS`.
 */
export function topicMatches(filter: readonly string[], topic: readonly string[]): boolean {
  if (isDollar(topic[0]) !== isDollar(filter[0])) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i];
    // '#' also matches its parent level: `a/#` matches `a` [MQTT-4.7.1-1].
    if (level === '#') return true;
    if (i >= topic.length) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/**
 * Does the ACL filter cover every topic the subscription filter can match?
 * This is how mosquitto 2 compares a SUBSCRIBE against an ACL topic
 * (`mosquitto_sub_matches_acl`): `+` in the ACL covers a literal or `+` level
 * but not `#`; `#` in the ACL covers the rest, including nothing at all; a
 * literal ACL level covers only the same literal.
 */
export function filterCovers(acl: readonly string[], sub: readonly string[]): boolean {
  if (isDollar(sub[0]) !== isDollar(acl[0])) return false;
  for (let i = 0; i < acl.length; i++) {
    const level = acl[i];
    if (level === '#') return true;
    if (i >= sub.length) return false;
    if (level === '+') {
      if (sub[i] === '#') return false;
    } else if (level !== sub[i]) {
      return false;
    }
  }
  return acl.length === sub.length;
}

/**
 * A filter made only of wildcards (`#`, `+`, `+/#`, `+/+/#`...) names no part
 * of the topic tree; OASIS MQTT-293 advises refusing such subscriptions unless
 * they are granted on purpose.
 */
export function isBroadFilter(levels: readonly string[]): boolean {
  for (const level of levels) if (level !== '+' && level !== '#') return false;
  return true;
}

/** A well-formed filter: `#` only as the whole last level, `+` only as a whole level. */
export function isValidFilterLevels(levels: readonly string[]): boolean {
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level === '#') {
      if (i !== levels.length - 1) return false;
    } else if (level === '+') {
      continue;
    } else if (level.includes('#') || level.includes('+')) {
      return false;
    }
  }
  return true;
}

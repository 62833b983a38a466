/**
 * Topic ACL evaluation: one entry point over a chain of checks, each of which
 * answers allow, deny, or "not mine" (defer); the first definite answer wins.
 *
 * Actions: `publish` (a PUBLISH or a will, checked against the topic name),
 * `subscribe` (a SUBSCRIBE, checked against the filter itself; for
 * `$share/<group>/<filter>` against `<filter>`), `receive` (a delivery to a
 * subscriber, wildcard, shared or retained, checked against the concrete topic).
 *
 * The chain, in order:
 *
 * 1. `$SYS`. Clients never publish to a topic starting with `$SYS`. Reading
 *    it needs a rule that names it: a rule filter starting with a wildcard
 *    never matches a topic starting with `$` (MQTT 4.7.2, mosquitto's ACL
 *    check), and a credential regex reaches a `$` topic only when it starts
 *    with a literal `\$` (e.g. `\$SYS/.*`). The same holds for every `$` topic.
 * 2. Broad filters. A SUBSCRIBE whose filter is made only of wildcards (`#`,
 *    `+`, `+/#`, `+/+/#`...) is refused unless a rule grants that breadth on
 *    purpose (OASIS MQTT-293): an ACL rule with read access whose own topic is
 *    such a filter covering it (`topic read #`), or a credential subscribe
 *    pattern that is that literal filter (`#`, `\+/#`). A pattern such as `.*`
 *    matches the string `#` but does not grant it.
 * 3. ACL `deny` entries that apply to the principal: deny wins over every
 *    grant, whichever kind of rule grants it.
 * 4. Identity rules (TBMQ style), when the identity carries rules (a
 *    credential's `rules`/`cnRules`, or a JWT's claims): a publish list and a
 *    subscribe list of regular expressions matched against the whole topic
 *    (each is anchored as `^(?:...)$`). A match allows, no match denies; an
 *    empty list denies everything. `${cn}`, `${clientId}` and `${username}`
 *    are replaced by the principal's values, regex-escaped, before compiling;
 *    a pattern whose placeholder has no value (no CN, no username) matches
 *    nothing. SUBSCRIBE is matched on the filter string, deliveries on the
 *    concrete topic, both with the subscribe list. For an X.509 credential
 *    with `cnRules`, the first entry whose `cnPattern` (a regex, anchored)
 *    matches the leaf CN gives the lists; when none matches, everything is
 *    denied. Rules from a credential follow the credential as it is now;
 *    rules from a token stay as the token said.
 * 5. ACL grants (mosquitto acl_file semantics): `topic` rows for anonymous
 *    clients (no username), the `user <name>` section of the client's
 *    username, and `pattern` rows for everyone with `%c` (client id) and `%u`
 *    (username) substituted. `read` grants subscribe and receive, `write`
 *    grants publish, `readwrite` both. A pattern whose value contains `+`,
 *    `#` or `/`, is empty, or is missing (`%u` without a username) is not
 *    substituted: that row neither grants nor denies for that client.
 *    PUBLISH and deliveries use MQTT matching of the topic against the row's
 *    filter; SUBSCRIBE is granted when the row's filter covers the whole
 *    subscription filter (mosquitto 2's `mosquitto_sub_matches_acl`: `+`
 *    covers a level or `+` but not `#`, `#` covers the rest), and denied by a
 *    `deny` row only when that row covers the whole filter; topics of a
 *    wider subscription that a `deny` row names are filtered at delivery.
 *    No matching row: defer.
 * 6. The default policy: `deny`, unless the broker is configured with
 *    `ACL_DEFAULT_POLICY=allow` for development. Under `allow`, what no rule
 *    decides is allowed, `$SYS` reads and wildcard-only filters included
 *    (an open broker for local work); `$SYS` publishes stay refused, and
 *    identity rules still decide alone for the clients that carry them.
 *
 * Differences from mosquitto: mosquitto checks a user's section before the
 * patterns, so its pattern `deny` does not override a `user` grant; here
 * every `deny` row wins. Mosquitto 2.0's built-in file allows every
 * SUBSCRIBE and checks only deliveries; here SUBSCRIBE is checked too.
 */
import type { AuthenticatedIdentity, TopicRules } from '../provider';
import { filterCovers, isBroadFilter, isValidFilterLevels, topicMatches } from './topic-filters';

export type AclAction = 'publish' | 'subscribe' | 'receive';
export type AclPolicy = 'allow' | 'deny';

/** One mosquitto-style rule, as stored in D1 `acl_rules`. */
export interface AclRuleRecord {
  id: string;
  kind: 'topic' | 'pattern';
  principalType: 'anonymous' | 'user' | 'all';
  username: string | null;
  access: 'read' | 'write' | 'readwrite' | 'deny';
  topic: string;
  position: number;
}

export interface CnTopicRules {
  cnPattern: string;
  publish: string[];
  subscribe: string[];
}

/** A credential's topic rules, as stored in D1 `credentials`. */
export interface CredentialRules {
  rules: TopicRules | null;
  cnRules: CnTopicRules[] | null;
}

/** Everything the evaluator needs, from one read of the configuration. */
export interface AclSnapshot {
  aclRules: AclRuleRecord[];
  /**
   * Rules of every credential that has any, by credential id; a credential
   * that is absent has none. Null when credentials were not loaded: identities
   * then keep the rules they carried when they connected.
   */
  credentialRules: Map<string, CredentialRules> | null;
  defaultPolicy: AclPolicy;
  version: number;
}

export type DecisionSource = 'sys' | 'broad-filter' | 'acl-rule' | 'identity-rules' | 'default-policy';

export interface DecidedBy {
  source: DecisionSource;
  /** `acl-rule`: the row id; `identity-rules`: the credential id, when the rules came from one. */
  ruleId?: string;
  /** The rule's topic filter or regular expression as written. */
  pattern?: string;
  reason: string;
}

export interface AclDecision {
  allowed: boolean;
  decidedBy: DecidedBy;
}

/** Who is asking, as the evaluator sees it. */
export interface AclSubject {
  clientId: string;
  /** Used only when there is no identity; with one, the identity's username counts. */
  username: string | null;
  identity: AuthenticatedIdentity | null;
}

// ------------------------------------------------------------------ snapshot

interface RuleTemplate {
  rule: AclRuleRecord;
  read: boolean;
  write: boolean;
  deny: boolean;
  levels: string[];
  /** `pattern` rows with `%c` or `%u` somewhere: resolved per principal. */
  substitutes: boolean;
  /** The rule as every principal sees it, when nothing is substituted: shared, not copied per client. */
  shared: ResolvedRule | null;
}

interface CompiledCnRules {
  cn: RegExp | null;
  rules: TopicRules;
}

interface CompiledCredential {
  rules: TopicRules | null;
  cnRules: CompiledCnRules[] | null;
}

/** A snapshot with everything that does not depend on the principal done once. */
export interface CompiledAclSnapshot {
  version: number;
  defaultPolicy: AclPolicy;
  anonymous: RuleTemplate[];
  users: Map<string, RuleTemplate[]>;
  everyone: RuleTemplate[];
  credentials: Map<string, CompiledCredential> | null;
  /** Rows or patterns that cannot match anything (malformed filter or regex), for operators. */
  problems: string[];
}

const ACCESS: Record<AclRuleRecord['access'], { read: boolean; write: boolean; deny: boolean }> = {
  read: { read: true, write: false, deny: false },
  write: { read: false, write: true, deny: false },
  readwrite: { read: true, write: true, deny: false },
  deny: { read: false, write: false, deny: true },
};

export function compileAclSnapshot(snapshot: AclSnapshot): CompiledAclSnapshot {
  const problems: string[] = [];
  const anonymous: RuleTemplate[] = [];
  const users = new Map<string, RuleTemplate[]>();
  const everyone: RuleTemplate[] = [];
  const ordered = [...snapshot.aclRules].sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const rule of ordered) {
    const levels = rule.topic.split('/');
    if (rule.topic === '' || !isValidFilterLevels(levels)) {
      problems.push(`ACL rule ${rule.id}: '${rule.topic}' is not a valid topic filter`);
      continue;
    }
    const access = ACCESS[rule.access];
    if (!access) {
      problems.push(`ACL rule ${rule.id}: unknown access '${String(rule.access)}'`);
      continue;
    }
    const substitutes = rule.kind === 'pattern' && (rule.topic.includes('%c') || rule.topic.includes('%u'));
    const template: RuleTemplate = { rule, ...access, levels, substitutes, shared: null };
    if (!substitutes) template.shared = { rule, read: access.read, write: access.write, levels };
    if (rule.principalType === 'anonymous') anonymous.push(template);
    else if (rule.principalType === 'all') everyone.push(template);
    else if (rule.principalType === 'user' && rule.username !== null) {
      let section = users.get(rule.username);
      if (!section) users.set(rule.username, (section = []));
      section.push(template);
    } else {
      problems.push(`ACL rule ${rule.id}: a user rule needs a username`);
    }
  }

  let credentials: Map<string, CompiledCredential> | null = null;
  if (snapshot.credentialRules) {
    credentials = new Map();
    for (const [id, c] of snapshot.credentialRules) {
      const cnRules = c.cnRules?.map((entry, i) => {
        const cn = compileAnchored(entry.cnPattern);
        if (!cn) problems.push(`credential ${id}: cnRules[${i}] pattern '${entry.cnPattern}' is not a valid regular expression`);
        return { cn, rules: { publish: entry.publish, subscribe: entry.subscribe } };
      });
      credentials.set(id, { rules: c.rules, cnRules: cnRules ?? null });
    }
  }
  return { version: snapshot.version, defaultPolicy: snapshot.defaultPolicy, anonymous, users, everyone, credentials, problems };
}

// ------------------------------------------------------------------ principal

interface ResolvedRule {
  rule: AclRuleRecord;
  read: boolean;
  write: boolean;
  levels: string[];
}

/**
 * A principal's rows of one kind (grants or denies), in evaluation order and
 * indexed by first topic level. A topic or filter whose first level is `a`
 * can only be matched or covered by a row starting with `a` or with a
 * wildcard, so a look-up walks those two short lists instead of every row:
 * with a thousand rows spread over sites, a cache miss costs a few
 * comparisons rather than a thousand.
 */
export interface RuleIndex {
  /** Every row, in order. */
  all: ResolvedRule[];
  /** Rows whose first level is literal, by that level; each list in order. */
  byFirstLevel: Map<string, IndexedRule[]>;
  /** Rows whose first level is `+` or `#`, in order. */
  wildcardFirst: IndexedRule[];
}

interface IndexedRule {
  /** Place in `all`: between the two lists, the lower one comes first. */
  order: number;
  resolved: ResolvedRule;
}

function indexRules(rules: ResolvedRule[]): RuleIndex {
  const byFirstLevel = new Map<string, IndexedRule[]>();
  const wildcardFirst: IndexedRule[] = [];
  rules.forEach((resolved, order) => {
    const first = resolved.levels[0];
    const entry = { order, resolved };
    if (first === '+' || first === '#') {
      wildcardFirst.push(entry);
      return;
    }
    let list = byFirstLevel.get(first);
    if (!list) byFirstLevel.set(first, (list = []));
    list.push(entry);
  });
  return { all: rules, byFirstLevel, wildcardFirst };
}

/** The first row, in evaluation order, that `hit` accepts among those that can reach these levels. */
function firstHit(index: RuleIndex, levels: string[], hit: (r: ResolvedRule) => boolean): ResolvedRule | null {
  let found: IndexedRule | null = null;
  const literal = index.byFirstLevel.get(levels[0]);
  if (literal) {
    for (const entry of literal) {
      if (hit(entry.resolved)) {
        found = entry;
        break;
      }
    }
  }
  for (const entry of index.wildcardFirst) {
    if (found && entry.order > found.order) break;
    if (hit(entry.resolved)) {
      found = entry;
      break;
    }
  }
  return found ? found.resolved : null;
}

interface CompiledPattern {
  /** As written, before substitution. */
  source: string;
  list: 'publish' | 'subscribe';
  index: number;
  regex: RegExp;
  /** Starts with a literal `\$`, so it may match `$` topics. */
  explicitDollar: boolean;
  /** The exact string it matches when it has no regex syntax at all; null otherwise. */
  literal: string | null;
}

interface CompiledIdentityRules {
  publish: CompiledPattern[];
  subscribe: CompiledPattern[];
  /** Where the rules came from, for decidedBy. */
  credentialId: string | null;
  origin: string;
}

/** Everything needed to decide for one principal under one snapshot. */
export interface CompiledPrincipal {
  clientId: string;
  username: string | null;
  denies: RuleIndex;
  allows: RuleIndex;
  identity: CompiledIdentityRules | null;
  defaultPolicy: AclPolicy;
}

export function compilePrincipal(snapshot: CompiledAclSnapshot, subject: AclSubject): CompiledPrincipal {
  const username = subject.identity ? subject.identity.username : subject.username;
  const section = username === null ? snapshot.anonymous : snapshot.users.get(username) ?? [];
  const denies: ResolvedRule[] = [];
  const allows: ResolvedRule[] = [];
  // Both lists are in position order already; merging keeps rule order meaningful for decidedBy.
  for (const template of mergeByPosition(section, snapshot.everyone)) {
    let resolved = template.shared;
    if (!resolved) {
      const levels = substituteLevels(template.levels, subject.clientId, username);
      if (levels === null) continue;
      resolved = { rule: template.rule, read: template.read, write: template.write, levels };
    }
    if (template.deny) denies.push(resolved);
    else allows.push(resolved);
  }
  return {
    clientId: subject.clientId,
    username,
    denies: indexRules(denies),
    allows: indexRules(allows),
    identity: compileIdentityRules(snapshot, subject, username),
    defaultPolicy: snapshot.defaultPolicy,
  };
}

function mergeByPosition(a: RuleTemplate[], b: RuleTemplate[]): RuleTemplate[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: RuleTemplate[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].rule.position <= b[j].rule.position)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

/** A value that would change a filter's shape (wildcards, extra levels) is never put into one. */
const unsafeForPattern = (value: string | null): boolean => value === null || value === '' || /[+#/]/.test(value);

function substituteLevels(levels: string[], clientId: string, username: string | null): string[] | null {
  const out: string[] = [];
  for (const level of levels) {
    if (!level.includes('%')) {
      out.push(level);
      continue;
    }
    if (level.includes('%c') && unsafeForPattern(clientId)) return null;
    if (level.includes('%u') && unsafeForPattern(username)) return null;
    out.push(level.replace(/%[cu]/g, (m) => (m === '%c' ? clientId : username!)));
  }
  return out;
}

/** Rules from the credential as it is in this snapshot, or as the identity carried them. */
export function identityTopicRules(snapshot: CompiledAclSnapshot, identity: AuthenticatedIdentity | null): { rules: TopicRules; origin: string } | null {
  if (!identity) return null;
  const fromCredential = identity.provider !== 'jwt' && identity.credentialId !== null;
  if (!fromCredential || snapshot.credentials === null) {
    if (!identity.rules) return null;
    return { rules: identity.rules, origin: fromCredential ? `credential ${identity.credentialId}` : `${identity.provider} identity` };
  }
  const credential = snapshot.credentials.get(identity.credentialId!);
  if (!credential) return null;
  const origin = `credential ${identity.credentialId}`;
  if (credential.cnRules) {
    const cn = identity.cn;
    for (let i = 0; i < credential.cnRules.length; i++) {
      const entry = credential.cnRules[i];
      if (cn !== null && entry.cn !== null && entry.cn.test(cn)) return { rules: entry.rules, origin: `${origin} cnRules[${i}]` };
    }
    return { rules: { publish: [], subscribe: [] }, origin: `${origin} (no cnRules entry matches the certificate CN)` };
  }
  return credential.rules ? { rules: credential.rules, origin } : null;
}

function compileIdentityRules(snapshot: CompiledAclSnapshot, subject: AclSubject, username: string | null): CompiledIdentityRules | null {
  const found = identityTopicRules(snapshot, subject.identity);
  if (!found) return null;
  const values: Record<string, string | null> = { cn: subject.identity?.cn ?? null, clientId: subject.clientId, username };
  const compileList = (list: 'publish' | 'subscribe'): CompiledPattern[] => {
    const sources = Array.isArray(found.rules[list]) ? found.rules[list] : [];
    const out: CompiledPattern[] = [];
    sources.forEach((source, index) => {
      if (typeof source !== 'string') return;
      let missing = false;
      const substituted = source.replace(/\$\{(cn|clientId|username)\}/g, (_m, name: string) => {
        const value = values[name];
        if (value === null) {
          missing = true;
          return '';
        }
        return escapeRegExp(value);
      });
      if (missing) return;
      const regex = compileAnchored(substituted);
      if (!regex) return;
      out.push({ source, list, index, regex, explicitDollar: /^\^?\\\$/.test(source), literal: literalOf(source) });
    });
    return out;
  };
  return {
    publish: compileList('publish'),
    subscribe: compileList('subscribe'),
    credentialId: subject.identity && subject.identity.provider !== 'jwt' ? subject.identity.credentialId : null,
    origin: found.origin,
  };
}

export function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function compileAnchored(source: string): RegExp | null {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch {
    return null;
  }
}

/**
 * The one string a pattern matches when it uses no regex syntax (escaped
 * characters stand for themselves; `^` and `$` anchors are allowed), else null.
 */
function literalOf(source: string): string | null {
  let s = source;
  if (s.startsWith('^')) s = s.slice(1);
  if (s.endsWith('$') && !s.endsWith('\\$')) s = s.slice(0, -1);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      const next = s[i + 1];
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return null;
      out += next;
      i++;
    } else if ('.*+?^$(){}[]|'.includes(c)) {
      return null;
    } else {
      out += c;
    }
  }
  return out;
}

// ------------------------------------------------------------------ evaluation

const SHARE_PREFIX = '$share/';

/** `$share/<group>/<filter>` is authorized as `<filter>`: the group name grants nothing. */
export function filterForAcl(filter: string): string {
  if (!filter.startsWith(SHARE_PREFIX)) return filter;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  return slash < 0 ? filter : filter.slice(slash + 1);
}

const deny = (decidedBy: DecidedBy): AclDecision => ({ allowed: false, decidedBy });
const allow = (decidedBy: DecidedBy): AclDecision => ({ allowed: true, decidedBy });

type Check = (p: CompiledPrincipal, action: AclAction, subject: string, levels: string[]) => AclDecision | null;

const checkSys: Check = (_p, action, topic) => {
  if (action === 'publish' && topic.startsWith('$SYS')) return deny({ source: 'sys', reason: '$SYS topics are written by the broker only' });
  return null;
};

const checkBroadFilter: Check = (p, action, filter, levels) => {
  if (action !== 'subscribe' || !isBroadFilter(levels)) return null;
  if (p.identity) {
    if (p.identity.subscribe.some((pattern) => pattern.literal === filter)) return null;
    return deny({
      source: 'broad-filter',
      ruleId: p.identity.credentialId ?? undefined,
      reason: `'${filter}' names no part of the topic tree; it needs a subscribe pattern that is exactly '${filter}'`,
    });
  }
  // An ACL row can only cover a wildcard-only filter with a wildcard-only topic of its own, which is a deliberate grant.
  if (p.defaultPolicy === 'allow' || p.allows.wildcardFirst.some((e) => e.resolved.read && filterCovers(e.resolved.levels, levels))) return null;
  return deny({ source: 'broad-filter', reason: `'${filter}' names no part of the topic tree; it needs an ACL rule granting read on a filter at least as broad` });
};

const checkDenyRules: Check = (p, action, _subject, levels) => {
  const r = firstHit(p.denies, levels, action === 'subscribe' ? (d) => filterCovers(d.levels, levels) : (d) => topicMatches(d.levels, levels));
  return r ? deny({ source: 'acl-rule', ruleId: r.rule.id, pattern: r.rule.topic, reason: `denied by ${describeRule(r.rule)}` }) : null;
};

const checkIdentityRules: Check = (p, action, subject) => {
  const rules = p.identity;
  if (!rules) return null;
  const list = action === 'publish' ? rules.publish : rules.subscribe;
  const listName = action === 'publish' ? 'publish' : 'subscribe';
  const dollar = subject.charCodeAt(0) === 0x24;
  for (const pattern of list) {
    if (dollar && !pattern.explicitDollar) continue;
    if (pattern.regex.test(subject)) {
      return allow({
        source: 'identity-rules',
        ruleId: rules.credentialId ?? undefined,
        pattern: pattern.source,
        reason: `${listName}[${pattern.index}] of ${rules.origin} matches`,
      });
    }
  }
  const why = dollar ? `no ${listName} pattern of ${rules.origin} names '${subject.split('/')[0]}' (patterns must start with \\$ to match $ topics)` : `no ${listName} pattern of ${rules.origin} matches`;
  return deny({ source: 'identity-rules', ruleId: rules.credentialId ?? undefined, reason: why });
};

const checkGrantRules: Check = (p, action, _subject, levels) => {
  const hit =
    action === 'publish'
      ? (g: ResolvedRule) => g.write && topicMatches(g.levels, levels)
      : action === 'receive'
        ? (g: ResolvedRule) => g.read && topicMatches(g.levels, levels)
        : (g: ResolvedRule) => g.read && filterCovers(g.levels, levels);
  const r = firstHit(p.allows, levels, hit);
  return r ? allow({ source: 'acl-rule', ruleId: r.rule.id, pattern: r.rule.topic, reason: `granted by ${describeRule(r.rule)}` }) : null;
};

const CHAIN: Check[] = [checkSys, checkBroadFilter, checkDenyRules, checkIdentityRules, checkGrantRules];

/** Runs the chain. Allocates (splits the topic); callers cache the answer. */
export function evaluate(p: CompiledPrincipal, action: AclAction, topic: string): AclDecision {
  const subject = action === 'subscribe' ? filterForAcl(topic) : topic;
  const levels = subject.split('/');
  for (const check of CHAIN) {
    const decision = check(p, action, subject, levels);
    if (decision) return decision;
  }
  if (p.defaultPolicy === 'allow') return allow({ source: 'default-policy', reason: 'no rule decided; the default policy is allow (development only)' });
  if (subject.startsWith('$SYS')) return deny({ source: 'sys', reason: '$SYS is readable only with a rule that names it' });
  return deny({ source: 'default-policy', reason: 'no rule grants it; the default policy is deny' });
}

function describeRule(rule: AclRuleRecord): string {
  const who = rule.principalType === 'user' ? `user ${rule.username}` : rule.principalType === 'anonymous' ? 'anonymous clients' : 'everyone';
  return `${rule.kind} ${rule.access} ${rule.topic} (${who}, position ${rule.position})`;
}

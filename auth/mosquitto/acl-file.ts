/**
 * mosquitto `acl_file` reading and writing with the broker's own semantics
 * (mosquitto 2, `aclfile__parse` in src/security_default.c; mosquitto.conf(5)):
 *
 *   topic [read|write|readwrite|deny] <topic>    anonymous clients until the first `user` line,
 *                                                then the user named there
 *   user <username>                              starts that user's section
 *   pattern [read|write|readwrite|deny] <topic>  every client, wherever it stands, with %c
 *                                                (client id) and %u (username) substituted
 *
 * Words are separated by spaces only (a tab is part of a word). The access
 * word is optional, and without it the access is readwrite; a line with one
 * word after `topic` names the topic, so `topic read` grants readwrite on the
 * topic "read". Everything after the access word, trimmed, is the topic, so
 * topics may contain spaces. A `#` in the first column starts a comment; a
 * `#` after leading blanks is an invalid line, as it is for mosquitto.
 *
 * mosquitto refuses the whole file at its first error; this reads on and
 * reports every error with its line number, and callers should refuse a file
 * with any.
 */
import { exceedsBytes, splitLines, utf8Length, type MosquittoFileError } from './file-errors';

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export type AclPrincipal = { type: 'anonymous' } | { type: 'user'; username: string } | { type: 'all' };

export interface AclRule {
  kind: 'topic' | 'pattern';
  principal: AclPrincipal;
  access: AclAccess;
  topic: string;
  line: number;
}

export interface AclFile {
  rules: AclRule[];
  errors: MosquittoFileError[];
}

export interface AclParseOptions {
  maxBytes?: number;
  maxRules?: number;
}

export const ACL_FILE_MAX_BYTES = 4 * 1024 * 1024;
export const ACL_FILE_MAX_RULES = 100_000;
/** mosquitto_sub_topic_check's limit, the longest MQTT string. */
const MAX_TOPIC_BYTES = 65_535;
const MAX_ERRORS = 100;
const ACCESS_WORDS: ReadonlySet<string> = new Set<AclAccess>(['read', 'write', 'readwrite', 'deny']);

/** C's isspace in the "C" locale: what mosquitto trims, and nothing more (JS trim() also drops Unicode spaces). */
const C_SPACE = /[ \t\n\v\f\r]/;
function trimC(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && C_SPACE.test(s[start])) start++;
  while (end > start && C_SPACE.test(s[end - 1])) end--;
  return s.slice(start, end);
}

/**
 * Why mosquitto would refuse `topic` as an ACL topic, or null. Its check is
 * that of a subscription filter: `+` and `#` fill a whole level, `#` only as
 * the last one, at most 65,535 bytes. `%c` and `%u` are ordinary text here.
 */
export function aclTopicProblem(topic: string): string | null {
  if (topic === '') return 'the topic is empty';
  if (topic.includes('\0')) return 'the topic contains a NUL character';
  if (utf8Length(topic) > MAX_TOPIC_BYTES) return `the topic is longer than ${MAX_TOPIC_BYTES} bytes`;
  for (let i = 0; i < topic.length; i++) {
    const c = topic[i];
    const before = i === 0 ? '' : topic[i - 1];
    const after = i + 1 < topic.length ? topic[i + 1] : '';
    if (c === '+' && ((before !== '' && before !== '/') || (after !== '' && after !== '/'))) return "'+' must fill a whole topic level";
    if (c === '#' && ((before !== '' && before !== '/') || after !== '')) return "'#' must be the whole last topic level";
  }
  return null;
}

/** The next space-separated word from `pos`, as strtok with " " finds it; `end` is where the word stops. */
function nextWord(s: string, pos: number): { word: string; end: number } | null {
  let start = pos;
  while (start < s.length && s[start] === ' ') start++;
  if (start >= s.length) return null;
  let end = start;
  while (end < s.length && s[end] !== ' ') end++;
  return { word: s.slice(start, end), end };
}

/** What strtok_r(NULL, "") returns after a word ending at `end`: the rest of the line past the one delimiter, or null. */
function restAfter(s: string, end: number): string | null {
  return end + 1 < s.length ? s.slice(end + 1) : null;
}

export function parseAclFile(text: string, options: AclParseOptions = {}): AclFile {
  const maxBytes = options.maxBytes ?? ACL_FILE_MAX_BYTES;
  const maxRules = options.maxRules ?? ACL_FILE_MAX_RULES;
  const rules: AclRule[] = [];
  const errors: MosquittoFileError[] = [];
  if (exceedsBytes(text, maxBytes)) return { rules, errors: [{ line: 0, message: `the file is larger than ${maxBytes} bytes` }] };

  let user: string | null = null;
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    if (errors.length >= MAX_ERRORS) {
      errors.push({ line, message: `stopped after ${MAX_ERRORS} errors` });
      break;
    }
    // mosquitto strips every trailing blank (not only the newline) before it looks at the line.
    const buf = lines[i].replace(/[ \t\n\v\f\r]+$/, '');
    if (buf.startsWith('#')) continue;
    const first = nextWord(buf, 0);
    if (!first) continue;

    if (first.word === 'topic' || first.word === 'pattern') {
      const accessWord = nextWord(buf, first.end);
      if (!accessWord) {
        errors.push({ line, message: `'${first.word}' without a topic` });
        continue;
      }
      const rest = restAfter(buf, accessWord.end);
      let access: AclAccess = 'readwrite';
      let topic: string;
      if (rest === null) {
        topic = accessWord.word;
      } else {
        if (!ACCESS_WORDS.has(accessWord.word)) {
          errors.push({ line, message: `unknown access "${accessWord.word}" (expected read, write, readwrite or deny; a topic with spaces needs the access word before it)` });
          continue;
        }
        access = accessWord.word as AclAccess;
        topic = trimC(rest);
      }
      const problem = aclTopicProblem(topic);
      if (problem) {
        errors.push({ line, message: `invalid ACL topic "${topic}": ${problem}` });
        continue;
      }
      if (rules.length >= maxRules) {
        errors.push({ line, message: `more than ${maxRules} rules` });
        break;
      }
      const principal: AclPrincipal = first.word === 'pattern' ? { type: 'all' } : user === null ? { type: 'anonymous' } : { type: 'user', username: user };
      rules.push({ kind: first.word, principal, access, topic, line });
    } else if (first.word === 'user') {
      const rest = restAfter(buf, first.end);
      const username = rest === null ? '' : trimC(rest);
      if (username === '') {
        errors.push({ line, message: "'user' without a username" });
        continue;
      }
      if (username.includes('\0')) {
        errors.push({ line, message: 'the username contains a NUL character' });
        continue;
      }
      user = username;
    } else {
      errors.push({ line, message: invalidLineMessage(first.word) });
    }
  }
  return { rules, errors };
}

function invalidLineMessage(word: string): string {
  if (word.startsWith('#')) return "invalid line: a comment must have '#' in the first column";
  if (word.includes('\t')) return 'invalid line: separate words with spaces (mosquitto does not split on tabs)';
  return `invalid line: unknown keyword "${word}" (expected topic, pattern or user)`;
}

export type AclRuleInput = Omit<AclRule, 'line'> & { line?: number };

function serializableTopic(rule: AclRuleInput, index: number): string {
  const problem = aclTopicProblem(rule.topic) ?? (rule.topic.includes('\n') ? 'the topic contains a line break' : trimC(rule.topic) !== rule.topic ? 'the topic starts or ends with a blank' : null);
  if (problem) throw new TypeError(`rule ${index + 1}: cannot write topic ${JSON.stringify(rule.topic)}: ${problem}`);
  if (!ACCESS_WORDS.has(rule.access)) throw new TypeError(`rule ${index + 1}: unknown access ${JSON.stringify(rule.access)}`);
  return `${rule.kind} ${rule.access} ${rule.topic}`;
}

/**
 * acl_file text with the same meaning as `rules`: anonymous topic rules first
 * (they must come before any `user` line), then one section per user in order
 * of first appearance, then the patterns, which apply to everyone wherever they
 * stand. The access word is always written, so a topic named like an access
 * word reads back unchanged. Order within each group is kept, so
 * `parseAclFile(serializeAclFile(rules)).rules` is `rules` regrouped that way,
 * with new line numbers. Throws TypeError for a rule that cannot be written.
 */
export function serializeAclFile(rules: Iterable<AclRuleInput>): string {
  const anonymous: string[] = [];
  const users = new Map<string, string[]>();
  const patterns: string[] = [];
  let index = 0;
  for (const rule of rules) {
    const text = serializableTopic(rule, index);
    const p = rule.principal;
    if (rule.kind === 'pattern') {
      if (p.type !== 'all') throw new TypeError(`rule ${index + 1}: a pattern applies to all clients, not to ${p.type === 'user' ? `user "${p.username}"` : 'anonymous clients'}`);
      patterns.push(text);
    } else if (rule.kind === 'topic') {
      if (p.type === 'anonymous') anonymous.push(text);
      else if (p.type === 'user') {
        const u = p.username;
        if (u === '' || u.includes('\n') || u.includes('\0') || trimC(u) !== u) throw new TypeError(`rule ${index + 1}: cannot write username ${JSON.stringify(u)}`);
        const list = users.get(u) ?? [];
        list.push(text);
        users.set(u, list);
      } else throw new TypeError(`rule ${index + 1}: a topic rule belongs to anonymous clients or to one user; use a pattern for all clients`);
    } else {
      throw new TypeError(`rule ${index + 1}: unknown kind ${JSON.stringify((rule as { kind: unknown }).kind)}`);
    }
    index++;
  }
  const blocks: string[] = [];
  if (anonymous.length) blocks.push(anonymous.join('\n'));
  for (const [username, list] of users) blocks.push([`user ${username}`, ...list].join('\n'));
  if (patterns.length) blocks.push(patterns.join('\n'));
  return blocks.length ? `${blocks.join('\n\n')}\n` : '';
}

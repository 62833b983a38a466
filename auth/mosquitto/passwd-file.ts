/**
 * mosquitto password files (`password_file`): one `username:hash` a line.
 * Reading follows the mosquitto 2 broker: a `#` in the first column starts a
 * comment, blank lines are skipped, blanks around the username and the hash
 * are trimmed. Where the broker silently skips a line (no `:`, an empty
 * username, a second entry for the same user), this reports an error with its
 * line number instead, so an import never loses a user without saying so.
 */
import { passwordHashProblem } from '../passwords/password-hash';
import { exceedsBytes, splitLines, utf8Length, type MosquittoFileError } from './file-errors';

export interface PasswdEntry {
  username: string;
  /** The stored password: a `$6$`/`$7$` hash, or plain text when read with `passwords: 'any'`. */
  hash: string;
  line: number;
}

export interface PasswdFile {
  entries: PasswdEntry[];
  errors: MosquittoFileError[];
}

export interface PasswdParseOptions {
  /**
   * 'verifiable' (the default): each password must be a hash this product can
   * verify. 'any': any non-empty value, for plain-text files that are about to
   * be hashed, or for keeping other users' lines as they are while one is edited.
   */
  passwords?: 'verifiable' | 'any';
  maxBytes?: number;
  maxEntries?: number;
}

export const PASSWD_FILE_MAX_BYTES = 4 * 1024 * 1024;
export const PASSWD_FILE_MAX_ENTRIES = 50_000;
/** mosquitto_passwd's limit; MQTT strings cannot be longer either. */
export const MAX_USERNAME_BYTES = 65_535;
const MAX_ERRORS = 100;

/**
 * Why `username` cannot be written to a password file, or null. mosquitto_passwd's
 * rules (no control characters, no `:`, at most 65,535 bytes), plus what would
 * not read back the same: empty, blanks at either end (trimmed), a leading `#`
 * (read as a comment).
 */
export function passwdUsernameProblem(username: string): string | null {
  if (username === '') return 'the username is empty';
  if (utf8Length(username) > MAX_USERNAME_BYTES) return `the username is longer than ${MAX_USERNAME_BYTES} bytes`;
  if (/[\x00-\x1f\x7f]/.test(username)) return 'the username contains a control character';
  if (username.includes(':')) return "the username contains ':'";
  if (username.trim() !== username) return 'the username starts or ends with a blank';
  if (username.startsWith('#')) return "the username starts with '#', which mosquitto reads as a comment";
  return null;
}

/** True for values mosquitto itself decodes as hashes (`$6$`, `$7$`, mosquitto 2.1's `$argon2id$`): these are never plain-text passwords. */
export function looksHashed(password: string): boolean {
  return password.startsWith('$6$') || password.startsWith('$7$') || password.startsWith('$argon2id$');
}

export function parsePasswdFile(text: string, options: PasswdParseOptions = {}): PasswdFile {
  const maxBytes = options.maxBytes ?? PASSWD_FILE_MAX_BYTES;
  const maxEntries = options.maxEntries ?? PASSWD_FILE_MAX_ENTRIES;
  const verifiable = (options.passwords ?? 'verifiable') === 'verifiable';
  const entries: PasswdEntry[] = [];
  const errors: MosquittoFileError[] = [];
  if (exceedsBytes(text, maxBytes)) return { entries, errors: [{ line: 0, message: `the file is larger than ${maxBytes} bytes` }] };

  const seen = new Map<string, number>();
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    if (errors.length >= MAX_ERRORS) {
      errors.push({ line: i + 1, message: `stopped after ${MAX_ERRORS} errors` });
      break;
    }
    const line = i + 1;
    const raw = lines[i];
    if (raw.startsWith('#') || raw.trim() === '') continue;
    const colon = raw.indexOf(':');
    if (colon < 0) {
      errors.push({ line, message: "expected 'username:password hash' but there is no ':'" });
      continue;
    }
    const username = raw.slice(0, colon).trim();
    const hash = raw.slice(colon + 1).trim();
    if (username === '') {
      errors.push({ line, message: 'the username is empty' });
      continue;
    }
    const userProblem = passwdUsernameProblem(username);
    if (userProblem) {
      errors.push({ line, message: userProblem });
      continue;
    }
    if (hash === '') {
      errors.push({ line, message: `user "${username}" has no password` });
      continue;
    }
    if (hash.includes(':')) {
      errors.push({ line, message: `user "${username}": the password contains ':'` });
      continue;
    }
    if (verifiable) {
      const problem = passwordHashProblem(hash);
      if (problem) {
        errors.push({ line, message: `user "${username}": ${problem}` });
        continue;
      }
    }
    const first = seen.get(username);
    if (first !== undefined) {
      errors.push({ line, message: `user "${username}" is already defined on line ${first}` });
      continue;
    }
    if (entries.length >= maxEntries) {
      errors.push({ line, message: `more than ${maxEntries} users` });
      break;
    }
    seen.set(username, line);
    entries.push({ username, hash, line });
  }
  return { entries, errors };
}

/**
 * The file text for `entries`, one `username:hash` line each, in order.
 * Throws TypeError for a username or password that would not read back the
 * same, or for a username given twice.
 */
export function serializePasswdFile(entries: Iterable<{ username: string; hash: string }>): string {
  const seen = new Set<string>();
  let out = '';
  for (const { username, hash } of entries) {
    const problem = passwdUsernameProblem(username);
    if (problem) throw new TypeError(`cannot write user ${JSON.stringify(username)}: ${problem}`);
    if (seen.has(username)) throw new TypeError(`cannot write user "${username}" twice`);
    if (hash === '' || hash.includes(':') || hash.trim() !== hash || /[\x00-\x1f\x7f]/.test(hash)) {
      throw new TypeError(`cannot write the password of user "${username}": it is empty or contains ':', a blank at either end or a control character`);
    }
    seen.add(username);
    out += `${username}:${hash}\n`;
  }
  return out;
}

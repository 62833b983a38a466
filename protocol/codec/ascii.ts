/**
 * A string of printable-range ASCII (1–127) as text, or null for anything
 * else (UTF-8 beyond ASCII, U+0000), which the strict parser then checks.
 */
export function asciiText(raw: Uint8Array, start: number, end: number): string | null {
  let text = '';
  for (let i = start; i < end; i++) {
    const c = raw[i];
    if (c === 0 || c > 0x7f) return null;
    text += String.fromCharCode(c);
  }
  return text;
}

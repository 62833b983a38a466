/** A problem found while reading a mosquitto file. `line` is 1-based; 0 means the file as a whole (for example, too large). */
export interface MosquittoFileError {
  line: number;
  message: string;
}

/** `name:line: message`, the shape compilers and editors jump to. */
export function formatFileError(fileName: string, error: MosquittoFileError): string {
  return error.line > 0 ? `${fileName}:${error.line}: ${error.message}` : `${fileName}: ${error.message}`;
}

/** Splits into lines the way mosquitto's fgets loop sees them, with a trailing CR dropped and a leading UTF-8 byte order mark ignored. */
export function splitLines(text: string): string[] {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

const enc = new TextEncoder();

/** UTF-8 size without encoding a string that is plainly too large already (UTF-8 never has fewer bytes than UTF-16 code units). */
export function exceedsBytes(text: string, max: number): boolean {
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return enc.encode(text).byteLength > max;
}

export function utf8Length(text: string): number {
  return enc.encode(text).byteLength;
}

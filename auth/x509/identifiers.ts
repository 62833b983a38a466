/**
 * Certificate serials and fingerprints in one canonical spelling, so a serial
 * typed by an operator ("0a:1b:2c"), printed by openssl ("0A1B2C"), sent by
 * the platform ("00936EACBE07F201DF") or read from a CRL compares equal.
 */

/** Serials are at most 20 octets (RFC 5280 §4.1.2.2); some CAs overshoot a little, so allow some room. */
const MAX_SERIAL_HEX = 128;

/** Upper-case hex without separators or leading zeros ("0" for zero), or null when it is not hex. */
export function normalizeSerial(serial: string): string | null {
  if (typeof serial !== 'string') return null;
  const hex = serial.replace(/[\s:-]/g, '').toUpperCase();
  if (hex.length === 0 || hex.length > MAX_SERIAL_HEX || !/^[0-9A-F]+$/.test(hex)) return null;
  return hex.replace(/^0+(?=.)/, '');
}

/** The serial of a DER INTEGER's content octets. */
export function serialFromBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return '0';
  return normalizeSerial(toHex(bytes)) ?? '0';
}

/** Lower-case hex SHA-256 fingerprint without separators, or null when it is not 32 bytes of hex. */
export function normalizeFingerprint(fingerprint: string): string | null {
  if (typeof fingerprint !== 'string') return null;
  const hex = fingerprint.replace(/[\s:]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

export async function sha256Fingerprint(der: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', der)));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

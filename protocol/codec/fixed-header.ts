/**
 * The fixed header of one whole packet: what the decoder checks first, and
 * what the encoder checks of mqtt-packet's output and of bytes it forwards as
 * they arrived.
 */

/** Size of the fixed header, or a reason why the bytes are not exactly one packet. */
export function fixedHeaderSize(raw: Uint8Array): number | string {
  let remaining = 0;
  let multiplier = 1;
  let i = 1;
  for (;;) {
    if (i === 5) return 'remaining length longer than four bytes';
    if (i >= raw.length) return 'truncated fixed header';
    const b = raw[i++];
    remaining += (b & 0x7f) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 2) return 'remaining length not minimally encoded'; // [MQTT-1.5.5-1]
      break;
    }
  }
  if (i + remaining !== raw.length) return `remaining length ${remaining} does not match the ${raw.length - i} bytes given`;
  return i;
}

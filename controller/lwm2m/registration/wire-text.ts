/**
 * Names a device sends (endpoint, Uri-Path, Uri-Query, the link-format body) become text only when
 * they can be stored exactly as sent: valid UTF-8 without NUL. A lenient decode would replace bad
 * bytes with U+FFFD (the database row and the server's memory would then name different devices),
 * and Postgres text cannot hold NUL at all.
 */
export type WireText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: string };

// ignoreBOM: a leading U+FEFF is part of the name, not a marker to strip.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeWireText(bytes: Uint8Array): WireText {
  if (bytes.includes(0)) return { ok: false, reason: 'contains a NUL byte' };
  try {
    return { ok: true, text: strictUtf8.decode(bytes) };
  } catch {
    return { ok: false, reason: 'is not valid UTF-8' };
  }
}

/** Every value decoded, or the first that cannot be, named by `what` and its position. */
export function decodeWireTexts(
  values: readonly Uint8Array[],
  what: string,
): { readonly ok: true; readonly texts: string[] } | { readonly ok: false; readonly reason: string } {
  const texts: string[] = [];
  for (const [i, value] of values.entries()) {
    const decoded = decodeWireText(value);
    if (!decoded.ok) return { ok: false, reason: `${what} ${i + 1} ${decoded.reason}` };
    texts.push(decoded.text);
  }
  return { ok: true, texts };
}

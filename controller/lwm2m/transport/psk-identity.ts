const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A PSK identity as LwM2M's Security object carries it (0/x/3, UTF-8 text). Bytes that are not valid
 * UTF-8 name no device: undefined.
 */
export function pskIdentityText(identity: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(identity);
  } catch {
    return undefined;
  }
}

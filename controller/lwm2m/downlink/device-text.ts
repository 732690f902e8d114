/** Longest diagnostic text kept from a device: room for a message, bounded for a row and a log line. */
export const MAX_DEVICE_TEXT_LENGTH = 200;

// C0 and C1 control characters and DEL: NUL above all, which Postgres text and json cannot hold.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Free text a device chose (the payload of an error answer), fit to show an operator and to store:
 * control characters become spaces, runs of white space one, a lone surrogate U+FFFD, and it is cut
 * to `max` characters. Undefined when nothing is left. Applying it twice changes nothing.
 */
export function deviceText(raw: string, max = MAX_DEVICE_TEXT_LENGTH): string | undefined {
  const text = raw.replace(CONTROL, ' ').replace(LONE_SURROGATE, '\uFFFD').replace(/\s+/g, ' ').trim();
  if (text.length <= max) return text === '' ? undefined : text;
  const chars = Array.from(text);
  return chars.length <= max
    ? text
    : `${chars
        .slice(0, max - 1)
        .join('')
        .trimEnd()}…`;
}

/** What came of one POST: an answer (any status, its text bounded), or none, in words. */
export type PostOutcome =
  | {
      readonly kind: 'answered';
      readonly status: number;
      readonly text: string;
      /** The Retry-After header as sent, if any. */
      readonly retryAfter: string | null;
    }
  | { readonly kind: 'failed'; readonly reason: string };

/** The most of an answer's body read: webhooks answer with a line, not a document. */
const MAX_BODY_BYTES = 4096;

/**
 * POSTs a JSON body; never follows a redirect (a webhook that moved is an error to fix, not a
 * hop to take blindly with a signed body) and never waits longer than `timeoutMs` in all.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<PostOutcome> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await readBounded(response).catch(() => '');
    return {
      kind: 'answered',
      status: response.status,
      text,
      retryAfter: response.headers.get('retry-after'),
    };
  } catch (error) {
    return { kind: 'failed', reason: failureText(error, timeoutMs) };
  }
}

function failureText(error: unknown, timeoutMs: number): string {
  const err = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (err.name === 'TimeoutError' || err.name === 'AbortError')
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = err.cause?.code ?? err.cause?.message ?? err.message ?? String(error);
  return `unreachable: ${cause}`;
}

async function readBounded(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_BODY_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

/** The reason a receiver gives: `{"reason": ...}` or `{"message": ...}` JSON, else its first line of text. */
export function reasonInAnswer(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const body = JSON.parse(trimmed) as Record<string, unknown>;
      for (const key of ['reason', 'message']) {
        if (typeof body[key] === 'string') return oneLine(body[key]);
      }
    } catch {
      // not JSON after all: the text is the reason
    }
  }
  return oneLine(trimmed);
}

function oneLine(text: string): string {
  // Control characters would garble a log line or a terminal: a reason is printable text.
  return (text.split(/\r?\n/, 1)[0] ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
}

/** Cuts a reason to what its column holds (500 characters). */
export function clipReason(text: string, max = 500): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

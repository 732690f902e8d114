import { PassThrough } from 'node:stream';

/** A stream to hand a logger, and everything written to it so far. */
export function captureStream(): { readonly stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

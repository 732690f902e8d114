import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { generate, parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBlock } from '../../controller/coap/block-option.js';
import { download } from '../../controller/sim/download.js';

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** A CoAP server answering every GET with 2.05, a 16-byte block and the Block2 value `block2(num)`. */
async function blockServer(block2: (num: number) => Buffer): Promise<number> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  socket.on('message', (msg, rinfo) => {
    const request = parse(msg);
    const asked = request.options.find((o) => o.name === 'Block2')?.value ?? Buffer.alloc(0);
    let raw = 0;
    for (const b of asked) raw = raw * 256 + b;
    const answer = generate({
      code: '2.05',
      ack: true,
      messageId: request.messageId,
      token: request.token,
      options: [{ name: 'Block2', value: block2(raw >> 4) }],
      payload: Buffer.alloc(16, 0x61),
    });
    socket.send(answer, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket.address().port;
}

describe('simulated CoAP download, Block2 through the shared codec', () => {
  it('follows the block size the server picks', async () => {
    const port = await blockServer((num) => encodeBlock({ num, more: num < 2, szx: 0 }));
    const outcome = await download(new URL(`coap://127.0.0.1:${port}/fw/a.bin`), {
      signal: new AbortController().signal,
    });
    expect(outcome).toEqual({ kind: 'ok', data: Buffer.alloc(48, 0x61) });
  });

  it.each([
    ['longer than 3 bytes', Buffer.from([0, 0, 0, 0x08])],
    ['SZX 7 (BERT)', Buffer.from([0x0f])],
  ])('fails on a Block2 option %s instead of reading it', async (_what, value) => {
    const port = await blockServer(() => value);
    const outcome = await download(new URL(`coap://127.0.0.1:${port}/fw/a.bin`), {
      signal: new AbortController().signal,
    });
    expect(outcome).toEqual({ kind: 'failed', detail: 'malformed Block2 option' });
  });
});

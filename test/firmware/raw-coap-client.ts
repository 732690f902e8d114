import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generate, type ParsedPacket, parse } from 'coap-packet';
import { decodeBlock, encodeBlock, szxAtMost } from '../../controller/coap/block-option.js';

/** A deliberately small CoAP client: one CON GET at a time, raw packets, explicit Block2 options. */
export class RawCoapClient {
  private readonly socket: Socket;
  private messageId = Math.floor(Math.random() * 0xffff);

  private constructor(
    socket: Socket,
    private readonly port: number,
  ) {
    this.socket = socket;
  }

  /** `host` is the local address to send from: any of 127.0.0.0/8 gives a distinct source address. */
  static async open(port: number, host = '127.0.0.1'): Promise<RawCoapClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new RawCoapClient(socket, port);
  }

  close(): void {
    this.socket.close();
  }

  /** Sends a CON GET and resolves with the response (piggybacked or separate; a separate one is ACKed). */
  get(
    path: string[],
    options: { token: Buffer; block2?: Buffer; etag?: Buffer; query?: string[] },
  ): Promise<ParsedPacket> {
    this.messageId = (this.messageId + 1) & 0xffff;
    const messageId = this.messageId;
    const packetOptions = [
      ...path.map((segment) => ({ name: 'Uri-Path' as const, value: Buffer.from(segment) })),
      ...(options.query ?? []).map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
      ...(options.etag ? [{ name: 'ETag' as const, value: options.etag }] : []),
      ...(options.block2 ? [{ name: 'Block2' as const, value: options.block2 }] : []),
    ];
    const message = generate({
      code: 'GET',
      confirmable: true,
      messageId,
      token: options.token,
      options: packetOptions,
    });
    return new Promise((resolve) => {
      const onMessage = (data: Buffer) => {
        const packet = parse(data);
        if (!packet.token.equals(options.token) || packet.code === '0.00') return;
        if (packet.confirmable) {
          this.socket.send(
            generate({ code: '0.00', ack: true, messageId: packet.messageId }),
            this.port,
            '127.0.0.1',
          );
        }
        this.socket.off('message', onMessage);
        resolve(packet);
      };
      this.socket.on('message', onMessage);
      this.socket.send(message, this.port, '127.0.0.1');
    });
  }

  /** Downloads a whole resource block by block; `tokens: 'fixed'` reuses one token, `'per-block'` changes it. */
  async download(
    path: string[],
    { blockSize, tokens, query }: { blockSize: number; tokens: 'fixed' | 'per-block'; query?: string[] },
  ): Promise<{ data: Buffer; responses: ParsedPacket[] }> {
    const fixed = randomBytes(4);
    const chunks: Buffer[] = [];
    const responses: ParsedPacket[] = [];
    let num = 0;
    let szx = szxAtMost(blockSize);
    for (;;) {
      const token = tokens === 'fixed' ? fixed : randomBytes(4);
      const block2 = encodeBlock({ num, more: false, szx });
      const response = await this.get(path, { token, block2, ...(query ? { query } : {}) });
      responses.push(response);
      if (response.code !== '2.05') throw new Error(`block ${num}: ${response.code}`);
      chunks.push(response.payload);
      const option = response.options.find((o) => o.name === 'Block2');
      const block = option ? decodeBlock(option.value) : undefined;
      if (block === undefined || !block.more) break;
      // the server may have answered with a smaller block: continue at that size
      szx = block.szx;
      num = block.num + 1;
    }
    return { data: Buffer.concat(chunks), responses };
  }
}

export function optionOf(packet: ParsedPacket, name: string): Buffer | undefined {
  return packet.options.find((option) => option.name === name)?.value;
}

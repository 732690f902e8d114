import { once } from 'node:events';
import { generate, parse } from 'coap-packet';
import type { dtls } from 'node-dtls-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { DatagramSender } from '../../controller/coap/datagram-sender.js';
import { CoapServer } from '../../controller/coap/server.js';
import { FLEET_TIMING } from '../../controller/coap/timing.js';
import { TestServer } from './support/dtls-server.js';
import { connectNodeClient } from './support/node-client.js';

let server: TestServer | undefined;
let coap: CoapServer | undefined;
const sockets: dtls.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  coap?.close();
  await server?.close();
});

describe('the CoAP layer over the DTLS endpoint', () => {
  it('serves a request through the datagram interface and sees the identity of its sender', async () => {
    server = await TestServer.start();
    const endpoint = server.endpoint;
    endpoint.removeAllListeners('message'); // the CoAP layer, not the echo, reads this endpoint
    const sender: DatagramSender = endpoint.datagramSender();
    const identities: string[] = [];
    coap = new CoapServer({
      sender,
      onResponse: () => {},
      onRequest: (req) => req.answer({ code: '2.05', payload: Buffer.from('over dtls') }),
      maxCachedResponses: 100,
      maxBodyBytes: 1024,
      onError: () => {},
      timing: FLEET_TIMING,
      nextMessageId: () => 1,
    });
    endpoint.on('message', (datagram, peer) => {
      identities.push(peer.identity.toString());
      coap!.receive(datagram, { address: peer.address, port: peer.port });
    });
    const { socket, outcome } = await connectNodeClient(server.port);
    sockets.push(socket);
    expect(outcome).toBe('connected');
    const reply = once(socket, 'message');
    socket.send(
      generate({
        code: '0.01',
        confirmable: true,
        messageId: 77,
        token: Buffer.from([1, 2]),
        options: [{ name: 'Uri-Path', value: Buffer.from('x') }],
      }),
    );
    const answer = parse((await reply)[0] as Buffer);
    expect(answer.code).toBe('2.05');
    expect(answer.ack).toBe(true);
    expect(answer.messageId).toBe(77);
    expect(answer.payload.toString()).toBe('over dtls');
    expect(identities).toEqual(['device-2']);
  });

  it('refuses through onError to send to a peer that has no session', async () => {
    server = await TestServer.start();
    const err = await new Promise<Error>((resolve) =>
      server!.endpoint.datagramSender().send(Buffer.from('x'), { address: '127.0.0.1', port: 9 }, resolve),
    );
    expect(err.message).toMatch(/no DTLS session/);
  });
});

import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { type ClientSession, DtlsClientConnection } from '../controller/dtls/index.js';
import {
  CoapOption,
  Code,
  decodeMessage,
  encodeMessage,
  MessageType,
} from '../controller/sim/coap/coap-message.js';
import { benchKey } from './dtls-bench-keys.js';

export type RegisterOutcome =
  | { readonly kind: 'registered'; readonly session: ClientSession | undefined; readonly resumed: boolean }
  | { readonly kind: 'failed'; readonly detail: string };

const TIMEOUT_MS = 10_000;

function registerDatagram(endpoint: string, messageId: number): Buffer {
  const query = [`ep=${endpoint}`, 'lt=3600', 'lwm2m=1.1', 'b=U'];
  return encodeMessage({
    type: MessageType.CON,
    code: Code.POST,
    messageId,
    token: Buffer.from([messageId >> 8, messageId & 0xff]),
    options: [
      { number: CoapOption.URI_PATH, value: Buffer.from('rd') },
      { number: CoapOption.CONTENT_FORMAT, value: Buffer.from([40]) },
      ...query.map((q) => ({ number: CoapOption.URI_QUERY, value: Buffer.from(q) })),
    ],
    payload: Buffer.from('</1/0>,</3/0>,</5/0>'),
  });
}

/**
 * One device coming up on a new socket: over DTLS a handshake (abbreviated when `resume` is given),
 * then a Register, answered 2.01. No CoAP retransmission: on loopback a loss shows as a failure.
 */
export async function registerOnce(opts: {
  readonly port: number;
  readonly endpoint: string;
  readonly dtls: boolean;
  readonly resume?: ClientSession;
  readonly messageId: number;
}): Promise<RegisterOutcome> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const send = (datagram: Buffer): void => socket.send(datagram, opts.port, '127.0.0.1');
  try {
    return await new Promise<RegisterOutcome>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'failed', detail: 'timeout' }), TIMEOUT_MS);
      const done = (outcome: RegisterOutcome): void => {
        clearTimeout(timer);
        resolve(outcome);
      };
      const register = registerDatagram(opts.endpoint, opts.messageId);
      const onAnswer = (data: Buffer, session: ClientSession | undefined, resumed: boolean): void => {
        const answer = decodeMessage(data);
        if (answer?.messageId !== opts.messageId) return;
        if (answer.code === Code.CREATED) done({ kind: 'registered', session, resumed });
        else done({ kind: 'failed', detail: `answered ${answer.code >> 5}.${answer.code & 31}` });
      };
      if (!opts.dtls) {
        socket.on('message', (data) => onAnswer(data, undefined, false));
        send(register);
        return;
      }
      const connection: DtlsClientConnection = new DtlsClientConnection({
        credentials: { identity: Buffer.from(opts.endpoint), key: benchKey(opts.endpoint) },
        ...(opts.resume ? { resume: opts.resume } : {}),
        // The Register goes in the datagram of the client's Finished, as a device would send it.
        firstData: register,
        send,
        handlers: {
          data: (data) => onAnswer(data, connection.session, connection.established?.resumed ?? false),
          closed: (reason) => done({ kind: 'failed', detail: reason }),
        },
      });
      socket.on('message', (data) => connection.receive(data));
      connection.start();
    });
  } finally {
    socket.close();
  }
}

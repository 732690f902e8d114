import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PskKey, StaticCredentialDirectory } from '../../controller/credentials/index.js';
import { type ClientSession, DtlsClientConnection } from '../../controller/dtls/index.js';
import type { RegistrationRefusedEvent } from '../../controller/lwm2m/index.js';
import {
  CoapOption,
  Code,
  decodeMessage,
  encodeMessage,
  formatCode,
  MessageType,
} from '../../controller/sim/coap/coap-message.js';
import { type DevicePsk, locationOf, pathOf, RawDevice } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

const PSK: Record<string, DevicePsk> = {
  'dev-a': { identity: 'id-a', key: 'key-of-device-a!' },
  'dev-a2': { identity: 'id-a-second', key: 'second-key-of-a!' },
  'dev-b': { identity: 'id-b', key: 'key-of-device-b!' },
};
const credentials = new StaticCredentialDirectory([
  { endpoint: 'dev-a', identity: 'id-a', key: new PskKey(Buffer.from(PSK['dev-a']!.key)) },
  // A second identity of the same device (a key being rotated).
  { endpoint: 'dev-a', identity: 'id-a-second', key: new PskKey(Buffer.from(PSK['dev-a2']!.key)) },
  { endpoint: 'dev-b', identity: 'id-b', key: new PskKey(Buffer.from(PSK['dev-b']!.key)) },
]);

const lwm2m = rawDeviceServer(() => ({ host: '127.0.0.1', coaps: { port: 0 }, credentials }));

const overDtls = (psk: DevicePsk) => lwm2m.openDtls(psk);
const overUdp = () => lwm2m.open();

function nextRefusal(): Promise<RegistrationRefusedEvent> {
  return once(lwm2m.server, 'refused').then(([e]) => e as RegistrationRefusedEvent);
}

describe('registration over DTLS', () => {
  it('accepts a Register for the endpoint the identity belongs to; requests to the device go through its session', async () => {
    const d = await overDtls(PSK['dev-a']!);
    const answer = await d.register(['ep=dev-a', 'lwm2m=1.1']);
    expect(answer.code).toBe('2.01');
    expect(lwm2m.server.registration('dev-a')).toMatchObject({ security: 'psk', identity: 'id-a' });

    const read = lwm2m.server.device('dev-a').read('/3/0/3');
    const req = await d.nextRequest();
    expect(pathOf(req.packet)).toBe('/3/0/3');
    d.answer(req, '2.05', Buffer.from('1.0.0'), 0);
    expect(await read).toMatchObject({ kind: 'ok', records: [{ value: '1.0.0' }] });

    const [id] = locationOf(answer).slice(1);
    expect((await d.update(id!)).code).toBe('2.04');
    expect((await d.deregister(id!)).code).toBe('2.02');
    expect(lwm2m.server.registration('dev-a')).toBeUndefined();
  });

  it('refuses (4.03) a Register for an endpoint the identity does not belong to, with a refused event', async () => {
    const d = await overDtls(PSK['dev-b']!);
    const refused = nextRefusal();
    const answer = await d.register(['ep=dev-a', 'lwm2m=1.1']);
    expect(answer.code).toBe('4.03');
    expect(await refused).toMatchObject({
      operation: 'register',
      endpoint: 'dev-a',
      security: 'psk',
      reason: 'identity-of-another-endpoint',
      peer: { identity: 'id-b' },
    });
    expect(lwm2m.server.registration('dev-a')).toBeUndefined();
  });

  it('refuses (4.03) an endpoint that has credentials over plain CoAP, with a refused event', async () => {
    const d = await overUdp();
    const refused = nextRefusal();
    expect((await d.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('4.03');
    expect(await refused).toMatchObject({ operation: 'register', reason: 'credentials-required' });
    expect(lwm2m.server.registration('dev-a')).toBeUndefined();
    // An endpoint without credentials still registers over plain CoAP.
    expect((await d.register(['ep=plain-1', 'lwm2m=1.1'])).code).toBe('2.01');
    expect(lwm2m.server.registration('plain-1')).toMatchObject({ security: 'none', identity: undefined });
  });

  it('never completes a handshake with a wrong key or an unknown identity: nothing registers', async () => {
    const port = lwm2m.server.address('psk').port;
    await expect(RawDevice.openDtls(port, { identity: 'id-a', key: 'not-the-right-k' })).rejects.toThrow();
    await expect(RawDevice.openDtls(port, { identity: 'nobody', key: 'key-of-device-a!' })).rejects.toThrow();
    expect([...lwm2m.server.registrations()]).toEqual([]);
  });

  it('keeps a registration from a takeover: another identity, plain CoAP, or its id from elsewhere', async () => {
    const owner = await overDtls(PSK['dev-a']!);
    const answer = await owner.register(['ep=dev-a', 'lwm2m=1.1']);
    const [id] = locationOf(answer).slice(1);
    const registered = lwm2m.server.registration('dev-a');

    const other = await overDtls(PSK['dev-b']!);
    expect((await other.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('4.03');
    const plain = await overUdp();
    expect((await plain.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('4.03');
    // Its id, from another identity or from plain CoAP, is what an unknown id is.
    const updateRefused = nextRefusal();
    expect((await other.update(id!)).code).toBe('4.04');
    expect(await updateRefused).toMatchObject({ operation: 'update', reason: 'another-source' });
    expect((await plain.update(id!)).code).toBe('4.04');
    expect((await plain.deregister(id!)).code).toBe('4.04');
    expect(lwm2m.server.registration('dev-a')).toBe(registered);

    // The downlink still reaches the owner, not the others.
    const read = lwm2m.server.device('dev-a').read('/3/0/3');
    const req = await owner.nextRequest();
    owner.answer(req, '2.05', Buffer.from('1.0.0'), 0);
    expect(await read).toMatchObject({ kind: 'ok' });
  });

  it('lets another session that authenticates as the endpoint replace its registration', async () => {
    const first = await overDtls(PSK['dev-a']!);
    expect((await first.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('2.01');
    const firstRegistration = lwm2m.server.registration('dev-a')!;
    const second = await overDtls(PSK['dev-a2']!);
    const registered = once(lwm2m.server, 'registered');
    expect((await second.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('2.01');
    const [event] = await registered;
    expect(event.previous).toBe(firstRegistration);
    expect(lwm2m.server.registration('dev-a')).toMatchObject({ identity: 'id-a-second' });
    const read = lwm2m.server.device('dev-a').read('/3/0/3');
    const req = await second.nextRequest();
    second.answer(req, '2.05', Buffer.from('2.0.0'), 0);
    expect(await read).toMatchObject({ kind: 'ok', records: [{ value: '2.0.0' }] });
  });

  it('takes an Update from a new session of the same identity (a new port after a NAT rebinding)', async () => {
    const first = await overDtls(PSK['dev-a']!);
    const [id] = locationOf(await first.register(['ep=dev-a', 'lwm2m=1.1'])).slice(1);
    const oldPort = lwm2m.server.registration('dev-a')!.port;
    const again = await overDtls(PSK['dev-a']!);
    expect((await again.update(id!)).code).toBe('2.04');
    expect(lwm2m.server.registration('dev-a')!.port).not.toBe(oldPort);
    const read = lwm2m.server.device('dev-a').read('/3/0/3');
    const req = await again.nextRequest();
    again.answer(req, '2.05', Buffer.from('1.0.0'), 0);
    expect(await read).toMatchObject({ kind: 'ok' });
  });
});

describe('a Register in the datagram of the client’s Finished', () => {
  /** Our DTLS client with the Register as its first data: the answer, and the session to resume. */
  async function registerInFinalFlight(
    psk: DevicePsk,
    resume?: ClientSession,
  ): Promise<{ code: string; resumed: boolean; session: ClientSession | undefined }> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const register = encodeMessage({
      type: MessageType.CON,
      code: Code.POST,
      messageId: 77,
      token: Buffer.from([7]),
      options: [
        { number: CoapOption.URI_PATH, value: Buffer.from('rd') },
        { number: CoapOption.URI_QUERY, value: Buffer.from('ep=dev-a') },
        { number: CoapOption.URI_QUERY, value: Buffer.from('lwm2m=1.1') },
      ],
      payload: Buffer.from('</3/0>'),
    });
    try {
      return await new Promise((resolve, reject) => {
        const connection: DtlsClientConnection = new DtlsClientConnection({
          credentials: { identity: Buffer.from(psk.identity), key: Buffer.from(psk.key) },
          ...(resume ? { resume } : {}),
          firstData: register,
          send: (datagram) => socket.send(datagram, lwm2m.server.address('psk').port, '127.0.0.1'),
          handlers: {
            data: (data) => {
              const answer = decodeMessage(data);
              if (answer?.messageId !== 77) return;
              resolve({
                code: formatCode(answer.code),
                resumed: connection.established?.resumed ?? false,
                session: connection.session,
              });
            },
            closed: (reason) => reject(new Error(reason)),
          },
        });
        socket.on('message', (datagram) => connection.receive(datagram));
        connection.start();
      });
    } finally {
      socket.close();
    }
  }

  it('registers after a full handshake and after a resumed one', async () => {
    const full = await registerInFinalFlight(PSK['dev-a']!);
    expect(full).toMatchObject({ code: '2.01', resumed: false });
    expect(lwm2m.server.registration('dev-a')).toMatchObject({ security: 'psk', identity: 'id-a' });
    const resumed = await registerInFinalFlight(PSK['dev-a']!, full.session);
    expect(resumed).toMatchObject({ code: '2.01', resumed: true });
    expect(lwm2m.server.registration('dev-a')).toMatchObject({ security: 'psk', identity: 'id-a' });
  });
});

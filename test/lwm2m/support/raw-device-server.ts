import { afterEach, beforeEach, expect } from 'vitest';
import { Lwm2mServer, type Lwm2mServerOptions } from '../../../controller/lwm2m/lwm2m-server.js';
import { type DevicePsk, RawDevice } from './raw-device.js';

export interface RawDeviceServer {
  /** The server of the running test. */
  readonly server: Lwm2mServer;
  /** Opens a raw device (bound to `address`, default 127.0.0.1) against the server; closed after the test. */
  open(address?: string): Promise<RawDevice>;
  /** Opens a raw device on a DTLS session with `psk` against the server's coaps port; closed after the test. */
  openDtls(psk: DevicePsk): Promise<RawDevice>;
  /** Opens a raw device and registers it as `ep` with LwM2M 1.1, expecting 2.01. */
  registered(ep: string): Promise<RawDevice>;
  /** Stops the server and starts another (port 0, no expiry sweep, `options`) for the rest of the test. */
  replace(options: Lwm2mServerOptions): Promise<Lwm2mServer>;
}

/**
 * An Lwm2mServer for each test of the file calling this (port 0, no expiry sweep, and what
 * `options` returns, called before each test: a fresh clock, say), stopped after the test with
 * the raw devices opened against it.
 */
export function rawDeviceServer(options: () => Lwm2mServerOptions = () => ({})): RawDeviceServer {
  let current: Lwm2mServer | undefined;
  const devices: RawDevice[] = [];
  const start = (opts: Lwm2mServerOptions) => Lwm2mServer.start({ port: 0, expirySweepMs: 0, ...opts });
  beforeEach(async () => {
    current = await start(options());
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await current?.stop();
    current = undefined;
  });
  const handle: RawDeviceServer = {
    get server() {
      if (current === undefined) throw new Error('no server outside a test');
      return current;
    },
    async open(address) {
      const d = await RawDevice.open(handle.server.address().port, { address });
      devices.push(d);
      return d;
    },
    async openDtls(psk) {
      const d = await RawDevice.openDtls(handle.server.address('psk').port, psk);
      devices.push(d);
      return d;
    },
    async registered(ep) {
      const d = await handle.open();
      expect((await d.register([`ep=${ep}`, 'lwm2m=1.1'])).code).toBe('2.01');
      return d;
    },
    async replace(opts) {
      await handle.server.stop();
      current = undefined;
      current = await start(opts);
      return current;
    },
  };
  return handle;
}

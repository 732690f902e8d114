import { DEFAULT_RETRANSMIT, UdpEndpoint } from '../coap/udp-endpoint.js';
import type { DeviceContext } from './device-context.js';

/** The device's socket life: start, stop, reboot (a new port) and halting for good. */
export class PowerCycle {
  readonly #ctx: DeviceContext;

  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
  }

  /** Opens the socket and sends the first Register; resolves once that attempt is answered or failed. */
  async start(): Promise<void> {
    this.#ctx.socket = await this.#openSocket();
    await this.#ctx.parts.registration.register();
  }

  /** De-registers (when registered) and closes the socket. */
  async stop(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.stopped) return;
    ctx.stopped = true;
    ctx.generation++;
    ctx.parts.registration.cancelTimers();
    ctx.parts.firmware.abortDownload();
    const socket = ctx.socket;
    if (socket !== undefined && !ctx.offline && !ctx.halted) {
      if (await ctx.parts.registration.deregister(socket)) {
        ctx.emit({ kind: 'deregistered', endpoint: ctx.endpoint });
      }
    }
    ctx.location = undefined;
    await socket?.close();
    ctx.socket = undefined;
  }

  /** The device never comes back: socket closed, no timers. */
  async halt(): Promise<void> {
    const ctx = this.#ctx;
    ctx.halted = true;
    ctx.generation++;
    ctx.parts.registration.cancelTimers();
    await ctx.socket?.close();
    ctx.socket = undefined;
    ctx.emit({ kind: 'halted', endpoint: ctx.endpoint });
  }

  /** "Reboots": a new socket (so a new port), optionally de-registering first, then Register. */
  async reboot(whileDown?: () => void): Promise<void> {
    const ctx = this.#ctx;
    const { firmware, notifications, registration } = ctx.parts;
    if (ctx.stopped || ctx.halted) return;
    ctx.generation++;
    registration.cancelTimers();
    firmware.abortDownload();
    const old = ctx.socket;
    if (ctx.options.deregisterOnReboot && old !== undefined) await registration.deregister(old);
    // Opened before the old one closes, so the OS cannot hand out the same port again.
    const fresh = await this.#openSocket();
    await old?.close();
    if (ctx.stopped) {
      await fresh.close();
      return;
    }
    ctx.socket = fresh;
    ctx.location = undefined;
    notifications.reset();
    firmware.afterPowerLoss();
    whileDown?.();
    ctx.emit({
      kind: 'rebooted',
      endpoint: ctx.endpoint,
      version: ctx.values.firmwareVersion,
      port: fresh.port,
    });
    await registration.register();
  }

  /**
   * After a failover over DTLS: a socket (and session) for the new server, as a client opens a
   * connection per server. Plain CoAP keeps its socket: only the peer changes.
   */
  async reconnect(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.options.psk === undefined || ctx.stopped || ctx.halted) return;
    const old = ctx.socket;
    const fresh = await this.#openSocket();
    await old?.close();
    if (ctx.stopped || ctx.halted) {
      await fresh.close();
      return;
    }
    ctx.socket = fresh;
  }

  async #openSocket(): Promise<UdpEndpoint> {
    const ctx = this.#ctx;
    const family = ctx.server.address.includes(':') ? 'udp6' : 'udp4';
    const server = ctx.parts.server;
    const { psk, cipherSuites } = ctx.options;
    const socket = new UdpEndpoint(
      family,
      (m, from, reply) => server.handle(m, from, reply),
      ctx.options.timing ?? DEFAULT_RETRANSMIT,
      psk === undefined
        ? undefined
        : {
            server: ctx.server,
            credentials: psk,
            ...(cipherSuites ? { cipherSuites } : {}),
            onSession: (info) => ctx.emit({ kind: 'dtls-session', endpoint: ctx.endpoint, ...info }),
            onHandshakeFailure: (detail) => ctx.emit({ kind: 'dtls-failed', endpoint: ctx.endpoint, detail }),
          },
    );
    await socket.open(ctx.options.bindAddress);
    return socket;
  }
}

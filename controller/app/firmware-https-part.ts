import {
  type RunningFirmwareServer,
  type ServerLimits,
  startFirmwareHttpsServer,
} from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import { type FirmwareServing, firmwareHandlerOptions } from './firmware-serving.js';
import { ResourcePart } from './resource-part.js';

export interface FirmwareHttpsPartOptions {
  readonly port: number;
  readonly host?: string;
  /** Certificates made by `otactl pki init`. */
  readonly tlsDir: string;
  readonly limits: ServerLimits;
  readonly firmware: FirmwareServing;
  readonly logger: Logger;
}

/** Firmware over HTTPS, on a port of its own. */
export function firmwareHttpsPart(options: FirmwareHttpsPartOptions): ResourcePart<RunningFirmwareServer> {
  return new ResourcePart(
    'https firmware server',
    () =>
      startFirmwareHttpsServer({
        port: options.port,
        ...(options.host ? { host: options.host } : {}),
        tlsDir: options.tlsDir,
        ...firmwareHandlerOptions(options.firmware),
        ...options.limits,
        log: options.logger,
      }),
    (server) => server.close(),
  );
}

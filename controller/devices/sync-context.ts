import type { Lwm2mLogger, Lwm2mServer } from '../lwm2m/index.js';
import type { DeviceOwnership } from '../replicas/device-ownership.js';
import type { ReportWarnings } from './report-warnings.js';
import type { DeviceWriteQueue } from './write-queue.js';

/** What the parts of device sync share. */
export class SyncContext {
  stopped = false;

  constructor(
    readonly server: Lwm2mServer,
    /** Epoch ms. */
    readonly clock: () => number,
    readonly log: Lwm2mLogger,
    readonly writes: DeviceWriteQueue,
    readonly warnings: ReportWarnings,
    /** This replica, recorded as the owner of every registration it receives; none: not recorded. */
    readonly ownership?: DeviceOwnership,
  ) {}

  /** Runs a handler of a server event or timer: nothing once stopped, and a throw is logged. */
  guard(event: string, fn: () => void): void {
    if (this.stopped) return;
    try {
      fn();
    } catch (err) {
      this.log.error({ err, event }, 'device sync failed to handle a server event');
    }
  }
}

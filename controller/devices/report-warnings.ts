import type { Lwm2mLogger } from '../lwm2m/index.js';
import type { ReportedCode } from './reported-code.js';

/** Devices (and what about them) already warned of a value they report: one line per device, not per packet. */
const MAX_WARNED = 10_000;

/** Warnings about what devices report, each logged once per device and subject. */
export class ReportWarnings {
  readonly #log: Lwm2mLogger;
  readonly #warned = new Set<string>();

  constructor(log: Lwm2mLogger) {
    this.#log = log;
  }

  unknownCodes(endpoint: string, state: ReportedCode | undefined, result: ReportedCode | undefined): void {
    if (state?.kind === 'unknown') {
      this.once(endpoint, 'state', { state: state.raw }, 'device reports a 5/0/3 State outside 0..3');
    }
    if (result?.kind === 'unknown') {
      this.once(
        endpoint,
        'result',
        { result: result.raw },
        'device reports a 5/0/5 Update Result outside 0..11',
      );
    }
  }

  /** Bounded: past MAX_WARNED devices the memory starts over (a device may then be warned of again). */
  once(endpoint: string, about: string, details: Record<string, unknown>, message: string): void {
    const key = `${about}\n${endpoint}`;
    if (this.#warned.has(key)) return;
    if (this.#warned.size >= MAX_WARNED) this.#warned.clear();
    this.#warned.add(key);
    this.#log.warn({ endpoint, ...details }, message);
  }
}

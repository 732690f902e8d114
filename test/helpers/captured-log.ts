import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../controller/log/index.js';

/** A pino JSON line as the controller writes it (level 30 info, 40 warn, 50 error). */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A JSON logger at info whose lines the test reads: what an operator sees in the controller's log. */
export function capturedLog(): { readonly logger: Logger; lines(): LogLine[] } {
  let text = '';
  const destination = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return {
    logger: createLogger({ level: 'info', pretty: false, destination }),
    lines: () =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as LogLine),
  };
}

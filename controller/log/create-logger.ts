import pino, { type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

/** The logger every part of the controller takes; pino's, so child loggers and levels come for free. */
export type Logger = PinoLogger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** Default `info`. */
  readonly level?: LogLevel;
  /** Human-readable lines instead of JSON; default: whether stdout is a terminal. */
  readonly pretty?: boolean;
  /** Where lines go; default stdout. */
  readonly destination?: NodeJS.WritableStream;
  /** Fields on every line (e.g. { component: 'controller' }). */
  readonly base?: Record<string, unknown>;
}

/**
 * Fields that could carry a pre-shared key's bytes: a credential row's column, and the statement
 * parameters PGlite puts on its errors (`err.params`). `PskKey` prints [redacted] by itself.
 */
export const REDACTED_LOG_PATHS = [
  'psk_key',
  'pskKey',
  '*.psk_key',
  '*.pskKey',
  'err.params',
  'error.params',
  'err.cause.params',
] as const;
const redact = { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' };

/** JSON lines (one object per line, ISO `time`) for machines; colourised lines on a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level: Level | 'silent' = options.level ?? 'info';
  const base = options.base ?? {};
  const usePretty = options.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    const destination = options.destination ?? process.stdout;
    const stream = pretty({
      destination,
      colorize: destination === process.stdout && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
    });
    return pino({ level, base, redact }, stream);
  }
  const destination: DestinationStream = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino({ level, base, redact, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

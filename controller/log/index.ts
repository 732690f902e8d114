export {
  createLogger,
  isLogLevel,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  REDACTED_LOG_PATHS,
} from './create-logger.js';
export { deviceLogger, rolloutLogger } from './device-logger.js';

export type { CoapRequestLike } from './coap-exchange.js';
export {
  COAP_FIRMWARE_PREFIX,
  type CoapFirmwareHandler,
  type CoapFirmwareHandlerOptions,
  coapEtag,
  createFirmwareCoapHandler,
} from './handler.js';
export {
  type BudgetVerdict,
  type ByteRate,
  REGISTERED_SOURCE,
  REGISTERED_SOURCE_RATE,
  SourceBudget,
  type SourceBudgetOptions,
  type SourceClass,
  UNREGISTERED_SOURCE,
  UNREGISTERED_SOURCE_RATE,
  UNREGISTERED_TOTAL_RATE,
} from './source-budget.js';

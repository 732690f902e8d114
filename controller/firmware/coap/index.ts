export {
  BLOCK_SIZES,
  type BlockOption,
  type BlockSize,
  decodeBlockOption,
  encodeBlockOption,
} from './block-option.js';
export type { CoapRequestLike, CoapResponseLike } from './coap-exchange.js';
export {
  COAP_FIRMWARE_PREFIX,
  type CoapFirmwareHandler,
  type CoapFirmwareHandlerOptions,
  coapEtag,
  createFirmwareCoapHandler,
} from './handler.js';

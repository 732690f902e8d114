export {
  ApiRequestError,
  createDbReadApi,
  createHttpReadApi,
  type HttpReadApiOptions,
  type ReadApi,
} from './read-api.js';

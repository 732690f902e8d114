export {
  COAP_OUTCOMES,
  type CoapOutcome,
  createMetrics,
  type LabelledCounter,
  type Metrics,
  type MetricsOptions,
  UPDATE_OUTCOMES,
  type UpdateOutcome,
} from './metrics.js';

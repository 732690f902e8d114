export {
  COAP_OUTCOMES,
  type CoapOutcome,
  createMetrics,
  type LabelledCounter,
  type Metrics,
  type MetricsOptions,
  type ReplicaHealth,
  UPDATE_OUTCOMES,
  type UpdateOutcome,
} from './metrics.js';

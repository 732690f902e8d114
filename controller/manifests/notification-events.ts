/**
 * The rollout events a Notification may ask for: the `events` table types that say something a
 * person or a system acts on (per-device events stay in the API and the event stream).
 */
export const NOTIFICATION_EVENTS = [
  'StepStarted',
  'StepCompleted',
  'ApprovalNeeded',
  'GateRefused',
  'GatePassed',
  'RolloutPaused',
  'RolloutAborted',
  'RolloutCompleted',
  'RolloutDegraded',
  'RolloutRemoved',
  'TargetChanged',
  'ManifestsInvalid',
  'ManifestsRecovered',
  'GitSyncFailed',
  'GitSyncRecovered',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const NOTIFICATION_FORMATS = ['generic', 'slack'] as const;
export type NotificationFormat = (typeof NOTIFICATION_FORMATS)[number];

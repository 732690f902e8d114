export { type CommitFields, commitText, revisionText } from './commit-text.js';
export { renderHistory } from './history-report.js';
export { renderManifestsStatus } from './manifests-report.js';
export { percent, progressBar } from './progress-bar.js';
export { renderReplicas } from './replicas-report.js';
export { renderRollout, renderStatus } from './status-report.js';

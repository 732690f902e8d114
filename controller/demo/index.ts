export { DEMO_DEFAULTS, EXAMPLES_DIR, QUICK } from './demo-settings.js';
export { createLiveView, type DemoOutput, type LiveView } from './live-view.js';
export { type DemoWorkspace, prepareWorkspace, type WorkspaceOptions } from './prepare-workspace.js';
export { finishedAsDesigned, type Progress, progressSignature, readProgress } from './progress.js';
export { bar, renderFrame, renderLine } from './render-progress.js';
export { type DemoOptions, type DemoResult, DemoSetupError, runDemo } from './run-demo.js';
export { StallWatch } from './stall-watch.js';
export { buildSummary, type DemoSummary, type FaultRow, renderSummary } from './summary.js';

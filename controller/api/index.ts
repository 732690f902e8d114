export { API_PREFIX, type ApiRoutesOptions, DEFAULT_PAGE, MAX_PAGE } from './api-routes.js';
export { checkDatabase, type DatabaseCheck } from './database-check.js';
export { createEventStream, type EventStream, type EventStreamOptions } from './event-stream.js';
export { createHttpApp, type HttpApp, type HttpAppOptions, type Readiness } from './http-app.js';
export { type HttpServerOptions, type RunningHttpServer, startHttpServer } from './http-server.js';
export * from './read-model/index.js';

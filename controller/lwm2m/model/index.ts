export { createObjectModel, defaultModel } from './object-model.js';
export { registryObjects } from './registry-objects.js';
export type {
  ObjectDefinition,
  ObjectModel,
  Operations,
  ResourceModel,
  ResourceType,
} from './types.js';
export { RESOURCE_TYPES } from './types.js';

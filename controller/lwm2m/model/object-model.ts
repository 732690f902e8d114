import { tryParsePath } from '../path.js';
import { registryObjects } from './registry-objects.js';
import type { ObjectDefinition, ObjectModel, ResourceModel, ResourceType } from './types.js';

class StaticObjectModel implements ObjectModel {
  readonly #objects: ReadonlyMap<number, ObjectDefinition>;
  readonly #resources: ReadonlyMap<number, ReadonlyMap<number, ResourceModel>>;

  constructor(objects: readonly ObjectDefinition[]) {
    this.#objects = new Map(objects.map((o) => [o.id, o]));
    this.#resources = new Map(objects.map((o) => [o.id, new Map(o.resources.map((r) => [r.id, r]))]));
  }

  resourceType(path: string): ResourceType | undefined {
    const p = tryParsePath(path);
    if (p?.resourceId === undefined) return undefined;
    return this.resource(p.objectId, p.resourceId)?.type;
  }

  resource(objectId: number, resourceId: number): ResourceModel | undefined {
    return this.#resources.get(objectId)?.get(resourceId);
  }

  object(id: number): ObjectDefinition | undefined {
    return this.#objects.get(id);
  }
}

/** Builds a model from object definitions; later definitions of the same id win. */
export function createObjectModel(objects: readonly ObjectDefinition[]): ObjectModel & {
  resource(objectId: number, resourceId: number): ResourceModel | undefined;
} {
  return new StaticObjectModel(objects);
}

/** Objects 0 Security, 1 Server, 3 Device, 5 Firmware Update and 9 Software Management. */
export const defaultModel = createObjectModel(registryObjects);

/** LwM2M resource data types (OMA LwM2M Core, Appendix C). `none` is an executable resource. */
export const RESOURCE_TYPES = [
  'string',
  'integer',
  'unsignedInteger',
  'float',
  'boolean',
  'opaque',
  'time',
  'objlnk',
  'corelnk',
  'none',
] as const;

export type ResourceType = (typeof RESOURCE_TYPES)[number];

export type Operations = 'R' | 'W' | 'RW' | 'E' | '';

export interface ResourceModel {
  readonly id: number;
  readonly name: string;
  readonly operations: Operations;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly type: ResourceType;
  readonly range?: string;
  readonly units?: string;
}

export interface ObjectDefinition {
  readonly id: number;
  readonly name: string;
  readonly urn: string;
  /** Object version, e.g. '1.2'. */
  readonly version: string;
  readonly lwm2mVersion: string;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly resources: readonly ResourceModel[];
}

/** What codecs need to know about objects: the type of a resource and the object definitions. */
export interface ObjectModel {
  /** The type of the resource at a resource or resource-instance path ('/3/0/3', '/5/0/8/1'). */
  resourceType(path: string): ResourceType | undefined;
  object(id: number): ObjectDefinition | undefined;
}

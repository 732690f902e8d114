import { describe, expect, it } from 'vitest';
import {
  ContentFormat,
  contentFormatName,
  isContentFormatId,
} from '../../../controller/lwm2m/content-format.js';
import {
  type Link,
  objectLinksFromRegistration,
  parseLinkFormat,
  serializeLinkFormat,
} from '../../../controller/lwm2m/link-format.js';
import { defaultModel } from '../../../controller/lwm2m/model/index.js';
import { formatPath, isPrefixOf, isRootPath, PathError, parsePath } from '../../../controller/lwm2m/path.js';

describe('content formats', () => {
  it('knows the LwM2M content format numbers and their media types', () => {
    expect(isContentFormatId(11542)).toBe(true);
    expect(isContentFormatId(50)).toBe(false);
    expect(isContentFormatId('110')).toBe(false);
    expect(contentFormatName(ContentFormat.SENML_CBOR)).toBe('application/senml+cbor');
    expect(contentFormatName(ContentFormat.TLV)).toBe('application/vnd.oma.lwm2m+tlv');
  });
});

describe('LwM2M paths', () => {
  it('parses paths with and without a leading slash', () => {
    expect(parsePath('/3/0/3')).toEqual({ objectId: 3, instanceId: 0, resourceId: 3 });
    expect(parsePath('3/0/3')).toEqual({ objectId: 3, instanceId: 0, resourceId: 3 });
    expect(parsePath('/5/0/8/1')).toEqual({
      objectId: 5,
      instanceId: 0,
      resourceId: 8,
      resourceInstanceId: 1,
    });
    expect(parsePath('/5')).toEqual({ objectId: 5 });
    expect(isRootPath(parsePath('/'))).toBe(true);
  });

  it('throws a PathError for anything else', () => {
    for (const bad of ['/a/0', '/3//0', '/1/2/3/4/5', '/70000', '/-1', '/3/0x1', '/3.0']) {
      expect(() => parsePath(bad), bad).toThrow(PathError);
    }
  });

  it('parses each of more distinct paths than it keeps, twice over, to the same values', () => {
    const texts = Array.from({ length: 3000 }, (_, i) => `/${i % 7}/${Math.floor(i / 7)}/${i % 65536}`);
    for (let round = 0; round < 2; round++) {
      for (const [i, text] of texts.entries()) {
        expect(parsePath(text)).toEqual({ objectId: i % 7, instanceId: Math.floor(i / 7), resourceId: i });
      }
    }
    // Shared between callers, so no caller may change one.
    expect(Object.isFrozen(parsePath('/3/0/3'))).toBe(true);
    expect(() => parsePath('/a/0')).toThrow(PathError);
    expect(() => parsePath('/a/0')).toThrow(PathError);
  });

  it('formats paths back', () => {
    expect(formatPath(parsePath('3/0/3/'))).toBe('/3/0/3');
    expect(formatPath(parsePath('/'))).toBe('/');
  });

  it('tells whether one path contains another', () => {
    expect(isPrefixOf(parsePath('/5/0'), parsePath('/5/0/3'))).toBe(true);
    expect(isPrefixOf(parsePath('/5/0/3'), parsePath('/5/0/3'))).toBe(true);
    expect(isPrefixOf(parsePath('/'), parsePath('/5/0/3'))).toBe(true);
    expect(isPrefixOf(parsePath('/5/0/3'), parsePath('/5/0'))).toBe(false);
    expect(isPrefixOf(parsePath('/5/1'), parsePath('/5/0/3'))).toBe(false);
  });
});

describe('CoRE link format', () => {
  it('parses a registration body with a root link, versions and whitespace', () => {
    const body = '</>;rt="oma.lwm2m";ct=110,\n </1/0>, </3/0>,\r\n</5>;ver=1.2, </5/0>';
    const parsed = parseLinkFormat(body);
    expect(parsed).toEqual({
      ok: true,
      links: [
        { uri: '/', params: { rt: 'oma.lwm2m', ct: '110' } },
        { uri: '/1/0', params: {} },
        { uri: '/3/0', params: {} },
        { uri: '/5', params: { ver: '1.2' } },
        { uri: '/5/0', params: {} },
      ],
    });
  });

  it('keeps commas and semicolons inside quoted values and accepts flag parameters', () => {
    expect(parseLinkFormat('</a>;title="x, y; z";obs,</b>;ct="0 110"')).toEqual({
      ok: true,
      links: [
        { uri: '/a', params: { title: 'x, y; z', obs: true } },
        { uri: '/b', params: { ct: '0 110' } },
      ],
    });
  });

  it('parses an empty body to no links', () => {
    expect(parseLinkFormat('')).toEqual({ ok: true, links: [] });
    expect(parseLinkFormat('  \n')).toEqual({ ok: true, links: [] });
  });

  it('rejects garbage', () => {
    for (const bad of ['hello', '</1/0', '</1/0>;', '</1/0>;ver="1.0', '</1/0> </3/0>', '</1/0>;=3']) {
      expect(parseLinkFormat(bad).ok, bad).toBe(false);
    }
  });

  it('serializes links so that they parse back the same', () => {
    const links: Link[] = [
      { uri: '/', params: { rt: 'oma.lwm2m', ct: '110' } },
      { uri: '/3/0/3', params: { dim: '2', obs: true, title: 'a,b' } },
    ];
    const text = serializeLinkFormat(links);
    expect(text).toBe('</>;rt="oma.lwm2m";ct=110,</3/0/3>;dim=2;obs;title="a,b"');
    expect(parseLinkFormat(text)).toEqual({ ok: true, links });
  });

  it('reads objects, versions, root path and content formats from a registration', () => {
    const parsed = parseLinkFormat(
      '</lwm2m>;rt="oma.lwm2m";ct="60 110 112 11543",</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>;ver=1.2,</lwm2m/5/0>,</x/9>',
    );
    if (!parsed.ok) throw new Error(parsed.error);
    expect(objectLinksFromRegistration(parsed.links)).toEqual({
      rootPath: '/lwm2m',
      contentFormats: [60, 110, 112, 11543],
      objects: [
        { objectId: 1, instanceId: 0 },
        { objectId: 3, instanceId: 0 },
        { objectId: 5, version: '1.2' },
        { objectId: 5, instanceId: 0 },
      ],
    });
  });

  it('defaults to the root path "/" and no content format list', () => {
    const parsed = parseLinkFormat('</1/0>,</3/0>,</5/0>');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(objectLinksFromRegistration(parsed.links)).toEqual({
      rootPath: '/',
      objects: [
        { objectId: 1, instanceId: 0 },
        { objectId: 3, instanceId: 0 },
        { objectId: 5, instanceId: 0 },
      ],
    });
  });
});

describe('object model from the OMA registry', () => {
  it('knows the types of the Device and Firmware Update resources', () => {
    expect(defaultModel.resourceType('/3/0/3')).toBe('string');
    expect(defaultModel.resourceType('/3/0/13')).toBe('time');
    expect(defaultModel.resourceType('/3/0/4')).toBe('none');
    expect(defaultModel.resourceType('/5/0/0')).toBe('opaque');
    expect(defaultModel.resourceType('/5/0/3')).toBe('integer');
    expect(defaultModel.resourceType('/5/0/8/1')).toBe('integer');
    expect(defaultModel.resourceType('/5/0')).toBeUndefined();
    expect(defaultModel.resourceType('/3442/0/1')).toBeUndefined();
  });

  it('describes objects 0, 1, 3, 5 and 9 with their resources', () => {
    const fw = defaultModel.object(5);
    expect(fw?.name).toBe('Firmware Update');
    expect(fw?.version).toBe('1.2');
    expect(fw?.resources.find((r) => r.id === 8)).toMatchObject({ multiple: true, operations: 'R' });
    expect(fw?.resources.find((r) => r.id === 2)).toMatchObject({ operations: 'E', type: 'none' });
    expect(fw?.resources.find((r) => r.id === 1)).toMatchObject({ operations: 'RW', mandatory: true });
    expect([0, 1, 3, 9].map((id) => defaultModel.object(id)?.id)).toEqual([0, 1, 3, 9]);
    expect(defaultModel.object(3)?.resources.find((r) => r.id === 6)).toMatchObject({ multiple: true });
  });
});

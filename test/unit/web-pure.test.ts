/** The web app's pure functions: routing, settings validation, range parsing, history merge. */
import { describe, expect, test } from 'vitest';
import { parseGridAddress } from '../../core/client/grid-address.ts';
import { gridOrigin } from '../../core/protocol/grid.ts';
import { formatBytes, formatDate, mediaType, previewKind } from '../../web/store/format.ts';
import { type HistoryRecord, mergeRecord } from '../../web/store/history.ts';
import { capLink, parseRoute, routeHash } from '../../web/store/router.ts';
import {
  defaultSettings,
  gridEndpoint,
  parseStoredSettings,
  validateSettings,
} from '../../web/store/settings.ts';
import { contentDisposition, parseRange } from '../../web/sw/messages.ts';

const CAP = 'URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56';

describe('parseRoute', () => {
  test('pages', () => {
    expect(parseRoute('')).toEqual({ name: 'home' });
    expect(parseRoute('#/')).toEqual({ name: 'home' });
    expect(parseRoute('#/settings')).toEqual({ name: 'settings' });
    expect(parseRoute('#/grid')).toEqual({ name: 'grid' });
    expect(parseRoute('#/history')).toEqual({ name: 'history' });
    expect(parseRoute('#/nope')).toEqual({ name: 'not-found' });
    expect(parseRoute('#/settings/x')).toEqual({ name: 'not-found' });
    expect(parseRoute('#/file/')).toEqual({ name: 'not-found' });
  });
  test('a cap, plain or percent-encoded, round-trips through the fragment', () => {
    expect(parseRoute(`#/file/${CAP}`)).toEqual({ name: 'file', cap: CAP });
    expect(parseRoute(`#/file/${encodeURIComponent(CAP)}`)).toEqual({ name: 'file', cap: CAP });
    expect(parseRoute(routeHash({ name: 'file', cap: CAP }))).toEqual({ name: 'file', cap: CAP });
    expect(parseRoute(`#/dir/${CAP}`)).toEqual({ name: 'dir', cap: CAP });
    expect(parseRoute('#/file/%E0%A4%A')).toEqual({ name: 'file', cap: '%E0%A4%A' });
  });
  test('capLink puts the cap in the fragment only', () => {
    const link = new URL(capLink('https://grid.example', '/app/', CAP));
    expect(link.pathname).toBe('/app/');
    expect(link.search).toBe('');
    expect(parseRoute(link.hash)).toEqual({ name: 'file', cap: CAP });
  });
});

describe('validateSettings', () => {
  test('defaults are valid', () => expect(validateSettings(defaultSettings)).toEqual({}));
  test('bounds and ordering', () => {
    expect(validateSettings({ ...defaultSettings, k: 0 }).k).toMatch(/1 to 256/);
    expect(validateSettings({ ...defaultSettings, k: 2.5 }).k).toMatch(/whole/);
    expect(validateSettings({ ...defaultSettings, n: 257 }).n).toMatch(/1 to 256/);
    expect(validateSettings({ ...defaultSettings, k: 8, happy: 7 }).happy).toMatch(/at least k/);
    expect(validateSettings({ ...defaultSettings, happy: 11 }).happy).toMatch(/cannot exceed N/);
    expect(validateSettings({ ...defaultSettings, k: 256, happy: 256, n: 256 })).toEqual({});
    expect(validateSettings({ ...defaultSettings, k: Number.NaN }).k).toBe(
      'k must be a whole number from 1 to 256.',
    );
  });
  test('grid URL', () => {
    expect(validateSettings({ ...defaultSettings, gridUrl: 'not a url' }).gridUrl).toMatch(/full URL/);
    expect(validateSettings({ ...defaultSettings, gridUrl: 'ftp://x/' }).gridUrl).toMatch(/start with/);
    expect(validateSettings({ ...defaultSettings, gridUrl: 'https://x/?a=1' }).gridUrl).toMatch(/query/);
    expect(validateSettings({ ...defaultSettings, gridUrl: 'wss://grid.example:8443/' })).toEqual({});
  });
  test('stored settings: bad JSON or invalid values fall back to defaults', () => {
    expect(parseStoredSettings(null)).toEqual(defaultSettings);
    expect(parseStoredSettings('{')).toEqual(defaultSettings);
    expect(parseStoredSettings('{"k":9,"happy":2,"n":3}')).toEqual(defaultSettings);
    expect(parseStoredSettings('{"k":2,"happy":4,"n":5,"convergence":false,"x":1}')).toEqual({
      ...defaultSettings,
      k: 2,
      happy: 4,
      n: 5,
      convergence: false,
    });
  });
  test('grid endpoint: same origin or override, as a WebSocket URL', () => {
    expect(gridEndpoint(defaultSettings, 'http://127.0.0.1:3456/#/file/x')).toBe('ws://127.0.0.1:3456/');
    expect(gridEndpoint(defaultSettings, 'https://grid.example/app/')).toBe('wss://grid.example/');
    expect(gridEndpoint({ ...defaultSettings, gridUrl: 'wss://other.example:9/' }, 'https://a/')).toBe(
      'wss://other.example:9/',
    );
  });
  test('grid managers ride in the address fragment, to the worker only', () => {
    const gm = `gm-v0-${'3d7glkjwr6xah3iizstld33pqtg533ebmffkrhu3l4fe3fll2kpa'}`;
    const s = { ...defaultSettings, gridUrl: 'ws://10.0.0.2:4000/v1/storage', gridManagers: [gm] as never[] };
    expect(validateSettings(s)).toEqual({});
    const address = gridEndpoint(s, 'https://a/');
    expect(address).toBe(`ws://10.0.0.2:4000/#gm=${gm}`);
    expect(parseGridAddress(address)).toEqual({ url: 'ws://10.0.0.2:4000/', gridManagers: [gm] });
    expect(gridOrigin(address)).toBe('http://10.0.0.2:4000');
    expect(parseStoredSettings(JSON.stringify(s))).toEqual(s);
    expect(validateSettings({ ...s, gridManagers: ['gm-v0-nope'] as never[] }).gridManagers).toMatch(
      /gm-v0-/,
    );
    expect(parseStoredSettings(JSON.stringify({ ...s, gridManagers: ['x'] }))).toEqual(defaultSettings);
  });
  test('join route carries an invitation token', () => {
    expect(parseRoute('#/join/oWF2AQ')).toEqual({ name: 'join', token: 'oWF2AQ' });
    expect(routeHash({ name: 'join', token: 'oWF2AQ' })).toBe('#/join/oWF2AQ');
    expect(parseRoute('#/join/')).toEqual({ name: 'not-found' });
  });
});

describe('parseRange', () => {
  test('forms', () => {
    expect(parseRange(null, 100)).toBeNull();
    expect(parseRange('bytes=0-', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=10-19', 100)).toEqual({ start: 10, end: 19 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
  });
  test('unsatisfiable or malformed', () => {
    for (const h of ['bytes=100-', 'bytes=5-4', 'bytes=-0', 'bytes=-', 'items=0-1', 'bytes=0-1,3-4'])
      expect(parseRange(h, 100)).toBe('invalid');
  });
});

test('contentDisposition survives quotes, newlines, slashes and non-ASCII', () => {
  const v = contentDisposition('a"b\r\nc/d é.txt');
  expect(v).not.toMatch(/[\r\n]/);
  expect(v).toContain('filename="a_b__c_d _.txt"');
  expect(v).toContain("filename*=UTF-8''a_b__c_d%20%C3%A9.txt");
  expect(contentDisposition(null)).toContain('filename="download"');
});

test('mergeRecord keeps a known name, the pin and the upload origin', () => {
  const old: HistoryRecord = {
    cap: CAP,
    name: 'a.txt',
    size: 56,
    date: 1,
    via: 'upload',
    pinned: true,
    pinId: 'p',
  };
  const seen: HistoryRecord = { cap: CAP, name: null, size: 56, date: 2, via: 'open', pinned: false };
  expect(mergeRecord(old, seen)).toEqual({ ...old, date: 2 });
  expect(mergeRecord(undefined, seen)).toEqual(seen);
});

test('format helpers', () => {
  expect(formatBytes(0)).toBe('0 B');
  expect(formatBytes(1536)).toBe('1.5 KiB');
  expect(formatBytes(25 * 1024 * 1024)).toBe('25 MiB');
  expect(mediaType('clip.MP4')).toBe('video/mp4');
  expect(mediaType('x.bin')).toBe('application/octet-stream');
  expect(mediaType(null, 'image/png')).toBe('image/png');
  expect(previewKind('application/pdf')).toBe('pdf');
  expect(previewKind('text/html')).toBeNull();
  for (const ms of [0, 1.7e12, Date.UTC(2026, 11, 4, 13, 5)])
    expect(formatDate(ms)).toBe(
      new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
    );
});

/** The web app's pure functions: routing, settings validation, range parsing, history merge. */
import { describe, expect, test } from 'vitest';
import { parseGridAddress } from '../../core/client/grid-address.ts';
import { gridOrigin } from '../../core/protocol/grid.ts';
import { type Doing, explain, GridFailure, JARGON } from '../../web/store/errors.ts';
import {
  downloadName,
  formatBytes,
  formatDate,
  formatRate,
  formatTimeLeft,
  mediaType,
  previewKind,
  rateOf,
} from '../../web/store/format.ts';
import { type HistoryRecord, mergeRecord, viewHistory } from '../../web/store/history.ts';
import { restoreCards } from '../../web/store/upload-cards.ts';
import { phaseOf } from '../../web/store/uploads.ts';
import { deploymentConfigJson, parseDeploymentConfig } from '../../web/store/deployment.ts';
import {
  capLink,
  cleanFileName,
  cleanGridUrl,
  cleanMediaType,
  formatHint,
  parseHint,
  parseRoute,
  routeHash,
} from '../../web/store/router.ts';
import {
  defaultSettings,
  gridEndpoint,
  linkGrid,
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
  test('a cap, plain or percent-encoded, round-trips through the fragment (links made before hints still work)', () => {
    const file = { name: 'file', cap: CAP, hint: {} };
    expect(parseRoute(`#/file/${CAP}`)).toEqual(file);
    expect(parseRoute(`#/file/${encodeURIComponent(CAP)}`)).toEqual(file);
    expect(parseRoute(routeHash({ name: 'file', cap: CAP, hint: {} }))).toEqual(file);
    expect(parseRoute(`#/dir/${CAP}`)).toEqual({ name: 'dir', cap: CAP });
    expect(parseRoute('#/file/%E0%A4%A')).toEqual({ name: 'file', cap: '%E0%A4%A', hint: {} });
  });
  test('capLink puts the cap, name, type and grid in the fragment only', () => {
    const link = new URL(capLink('https://grid.example', '/app/', CAP));
    expect(link.pathname).toBe('/app/');
    expect(link.search).toBe('');
    expect(parseRoute(link.hash)).toEqual({ name: 'file', cap: CAP, hint: {} });
    const hint = { name: 'Tom & Jerry?#1 100%.png', type: 'image/png', grid: 'https://relay.example/' };
    const rich = new URL(capLink('https://grid.example', '/app/', CAP, hint));
    expect(rich.search).toBe('');
    expect(rich.hash).toBe(
      `#/file/${CAP}?name=Tom%20%26%20Jerry%3F%231%20100%25.png&type=image%2Fpng&grid=https%3A%2F%2Frelay.example%2F`,
    );
    expect(parseRoute(rich.hash)).toEqual({ name: 'file', cap: CAP, hint });
    // A chat app that percent-encodes the whole fragment once.
    expect(parseRoute(`#/file/${encodeURIComponent(rich.hash.slice('#/file/'.length))}`)).toEqual({
      name: 'file',
      cap: CAP,
      hint,
    });
    // Order does not matter; unknown parameters and octet-stream are left out.
    expect(parseRoute(`#/file/${CAP}?x=1&type=TEXT/Plain&name=a.txt`)).toEqual({
      name: 'file',
      cap: CAP,
      hint: { name: 'a.txt', type: 'text/plain' },
    });
    expect(formatHint({ type: 'application/octet-stream' })).toBe('');
  });
  test('what a link claims is checked, not trusted', () => {
    expect(cleanFileName('invoice\u202Egpj.exe')).toBe('invoicegpj.exe');
    expect(cleanFileName('../../etc/passwd')).toBe('.._.._etc_passwd');
    expect(cleanFileName('a\u0000b\nc')).toBe('abc');
    expect(cleanFileName('..')).toBeUndefined();
    expect(cleanFileName('   ')).toBeUndefined();
    expect(cleanFileName('x'.repeat(300))).toHaveLength(255);
    expect(cleanMediaType('text/html; charset=utf-8')).toBeUndefined();
    expect(cleanMediaType('image/svg+xml')).toBe('image/svg+xml');
    expect(cleanMediaType('nonsense')).toBeUndefined();
    expect(cleanGridUrl('javascript:alert(1)')).toBeUndefined();
    expect(cleanGridUrl('https://user:pw@relay.example/')).toBeUndefined();
    expect(cleanGridUrl('wss://relay.example:8443')).toBe('wss://relay.example:8443/');
    expect(parseHint('name=&type=x&grid=ftp://a')).toEqual({});
  });
});

describe('deployment config', () => {
  test('config.json from CAIRN_GRID, and read back', () => {
    expect(JSON.parse(deploymentConfigJson(undefined))).toEqual({ grid: '' });
    expect(JSON.parse(deploymentConfigJson('https://relay.example'))).toEqual({
      grid: 'https://relay.example/',
    });
    expect(() => deploymentConfigJson('relay.example')).toThrow(/CAIRN_GRID must be/);
    expect(parseDeploymentConfig('{"grid": "https://relay.example"}')).toEqual({
      grid: 'https://relay.example/',
    });
    expect(parseDeploymentConfig('{"grid": ""}')).toEqual({});
    expect(parseDeploymentConfig('not json')).toEqual({});
    expect(parseDeploymentConfig('{"grid": "ftp://x"}')).toEqual({});
  });
  test("grid order: this browser's setting, the deployment's, the page's own; links name only another", () => {
    expect(gridEndpoint(defaultSettings, 'https://static.example/app/', 'https://relay.example')).toBe(
      'wss://relay.example/',
    );
    expect(
      gridEndpoint(
        { ...defaultSettings, gridUrl: 'ws://127.0.0.1:9/' },
        'https://a/',
        'https://relay.example',
      ),
    ).toBe('ws://127.0.0.1:9/');
    expect(linkGrid('wss://relay.example/', 'https://static.example/app/#/')).toBe('https://relay.example/');
    expect(linkGrid('ws://127.0.0.1:3456/', 'http://127.0.0.1:3456/#/file/x')).toBeUndefined();
  });
});

describe('validateSettings', () => {
  test('defaults are valid', () => expect(validateSettings(defaultSettings)).toEqual({}));
  test('bounds and ordering: plain words on every field involved, never k, happy, N or "share"', () => {
    expect(validateSettings({ ...defaultSettings, k: 0 }).k).toBe('Enter a whole number from 1 to 256.');
    expect(validateSettings({ ...defaultSettings, k: 2.5 }).k).toMatch(/whole/);
    expect(validateSettings({ ...defaultSettings, n: 257 }).n).toMatch(/1 to 256/);
    const k8 = validateSettings({ ...defaultSettings, k: 8, happy: 7 });
    expect(k8.k).toMatch(/more than the servers required below \(7\)/);
    expect(k8.happy).toMatch(/at least the number needed to read a file \(8\)/);
    // k = 20 with the default happy 7 and N 10: the fault is k's, and k is marked.
    const k20 = validateSettings({ ...defaultSettings, k: 20 });
    expect(k20.k).toMatch(/more than the total below \(10\)/);
    expect(k20.n).toMatch(/less than the number needed to read a file \(20\)/);
    expect(validateSettings({ ...defaultSettings, happy: 11 }).happy).toMatch(
      /more than the total below \(10\)/,
    );
    expect(validateSettings({ ...defaultSettings, k: 256, happy: 256, n: 256 })).toEqual({});
    expect(validateSettings({ ...defaultSettings, k: Number.NaN }).k).toBe(
      'Enter a whole number from 1 to 256.',
    );
    for (const s of [
      { k: 8, happy: 7, n: 10 },
      { k: 20, happy: 7, n: 10 },
      { k: 3, happy: 11, n: 10 },
      { k: 0, happy: 0, n: 0 },
    ]) {
      for (const m of Object.values(validateSettings({ ...defaultSettings, ...s })))
        expect(m).not.toMatch(JARGON);
    }
  });
  test('grid URL', () => {
    expect(validateSettings({ ...defaultSettings, gridUrl: 'not a url' }).gridUrl).toMatch(
      /full web address/,
    );
    expect(validateSettings({ ...defaultSettings, gridUrl: 'ftp://x/' }).gridUrl).toMatch(/start with/);
    expect(validateSettings({ ...defaultSettings, gridUrl: 'https://x/?a=1' }).gridUrl).toMatch(
      /after \? or #/,
    );
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
  // Text of any kind previews as text (shown, never rendered).
  expect(previewKind('text/html')).toBe('text');
  expect(previewKind('application/zip')).toBeNull();
  expect(downloadName(null, 'image/png')).toBe('download.png');
  expect(downloadName('a.b', 'image/png')).toBe('a.b');
  for (const ms of [0, 1.7e12, Date.UTC(2026, 11, 4, 13, 5)])
    expect(formatDate(ms)).toBe(
      new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
    );
});

test('speed and time left from progress samples', () => {
  expect(rateOf([{ t: 0, bytes: 0 }], 100)).toBeNull();
  expect(
    rateOf(
      [
        { t: 0, bytes: 0 },
        { t: 100, bytes: 50 },
      ],
      100,
    ),
  ).toBeNull(); // too short to tell
  const r = rateOf(
    [
      { t: 0, bytes: 0 },
      { t: 1000, bytes: 10e6 },
      { t: 2000, bytes: 20e6 },
    ],
    100e6,
  );
  expect(r?.bytesPerSecond).toBeCloseTo(10e6);
  expect(r?.secondsLeft).toBeCloseTo(8);
  // Only the last few seconds count: an early stall does not drag the speed down.
  const late = rateOf(
    [
      { t: 0, bytes: 0 },
      { t: 10_000, bytes: 0 },
      { t: 12_000, bytes: 4e6 },
    ],
    8e6,
  );
  expect(late?.bytesPerSecond).toBeCloseTo(2e6);
  expect(formatRate(1.5 * 1024 * 1024)).toBe('1.5 MiB/s');
  expect(formatTimeLeft(42)).toBe('about 42 s left');
  expect(formatTimeLeft(600)).toBe('about 10 min left');
});

test('upload phases follow the progress', () => {
  const p = { size: 100, encoded: 0, acked: 0, started: true };
  expect(phaseOf({ ...p, started: false })).toBe('waiting');
  expect(phaseOf(p)).toBe('connecting');
  expect(phaseOf({ ...p, hashed: 40 })).toBe('reading');
  expect(phaseOf({ ...p, hashed: 100, encoded: 10 })).toBe('storing');
  expect(phaseOf({ ...p, encoded: 100, acked: 100 })).toBe('finishing');
});

test('upload cards after a reload: running ones are interrupted, nothing else is invented', () => {
  expect(restoreCards(null)).toEqual([]);
  expect(
    restoreCards([
      { id: 1, name: 'a', size: 1, type: '', editable: false, status: 'working' },
      { id: 2, name: 'b', size: 2, type: 'x/y', editable: true, status: 'done', storedAt: 5 },
      { id: 3, name: 'c', size: 3, status: 'failed', error: 'The upload failed: …' },
      { id: 'x', name: 'd', size: 4, status: 'done' },
      { id: 5, name: 'e', size: 5, status: 'exploded' },
    ]),
  ).toEqual([
    {
      id: 1,
      name: 'a',
      size: 1,
      type: '',
      editable: false,
      status: 'interrupted',
      error: undefined,
      storedAt: undefined,
    },
    { id: 2, name: 'b', size: 2, type: 'x/y', editable: true, status: 'done', error: undefined, storedAt: 5 },
    {
      id: 3,
      name: 'c',
      size: 3,
      type: '',
      editable: false,
      status: 'failed',
      error: 'The upload failed: …',
      storedAt: undefined,
    },
  ]);
});

test('history search and sort', () => {
  const rec = (name: string | null, size: number, date: number): HistoryRecord => ({
    cap: `${name}-${date}`,
    name,
    size,
    date,
    via: 'open',
    pinned: false,
  });
  const all = [
    rec('Holiday photo.jpg', 5, 1),
    rec('notes.txt', 50, 3),
    rec(null, 500, 2),
    rec('photo 10.png', 1, 4),
  ];
  expect(viewHistory(all, '', 'newest').map((r) => r.date)).toEqual([4, 3, 2, 1]);
  expect(viewHistory(all, '', 'oldest').map((r) => r.date)).toEqual([1, 2, 3, 4]);
  expect(viewHistory(all, '', 'largest').map((r) => r.size)).toEqual([500, 50, 5, 1]);
  expect(viewHistory(all, '', 'name').map((r) => r.name)).toEqual([
    'Holiday photo.jpg',
    'notes.txt',
    'photo 10.png',
    null,
  ]);
  expect(viewHistory(all, 'PHOTO', 'newest').map((r) => r.name)).toEqual([
    'photo 10.png',
    'Holiday photo.jpg',
  ]);
  expect(viewHistory(all, 'holiday photo', 'newest')).toHaveLength(1);
  expect(viewHistory(all, 'unnamed', 'newest').map((r) => r.name)).toEqual([null]);
  expect(viewHistory(all, 'nothing like it', 'newest')).toEqual([]);
});

test('the words of errors: what happened and what to do, no internal terms', () => {
  const cases: [Doing, unknown, RegExp][] = [
    [
      'download',
      new GridFailure('NO_SERVERS', 'none of the 10 storage server(s) the grid lists could be reached', {
        listed: 10,
        reachable: 0,
      }),
      /none of the grid's storage servers could be reached, so the file cannot be read now/,
    ],
    [
      'upload',
      new GridFailure('UNHAPPY', 'found only 3 … lower --happy', {
        serversFound: 3,
        serversWithShares: 3,
        happy: 7,
      }),
      /only 3 storage servers could take the file, and your settings require at least 7/,
    ],
    [
      'download',
      new GridFailure('NOT_ENOUGH_SHARES', 'need 3 good shares, have 0', {
        needed: 3,
        found: 0,
        listed: 10,
        reachable: 10,
      }),
      /no storage server of the grid holds this file. The link may be mistyped/,
    ],
    [
      'download',
      new GridFailure('NOT_ENOUGH_SHARES', 'need 3 good shares, have 1', {
        needed: 3,
        found: 1,
        listed: 10,
        reachable: 3,
      }),
      /only 3 of the grid's 10 storage servers could be reached/,
    ],
    [
      'download',
      new GridFailure(
        'CHK_INTEGRITY',
        "the file's URI extension block disagrees with the cap about its size",
      ),
      /does not match this link/,
    ],
    [
      'download',
      new GridFailure('NOT_ENOUGH_SHARES', 'need 3 good shares, have 0 (failed: 1, 2)', {
        needed: 3,
        found: 0,
        causes: ['CHK_INTEGRITY'],
      }),
      /does not match this link/,
    ],
    [
      'upload',
      new GridFailure('RELAY_UNAVAILABLE', 'cannot reach the relay at x', { gridHost: '127.0.0.1:1' }),
      /the grid at 127\.0\.0\.1:1 cannot be reached/,
    ],
    ['preview', new GridFailure('NO_PREVIEWER', ''), /reload/i],
    ['save', new GridFailure('UNCOORDINATED_WRITE', ''), /someone else saved/],
    ['download', new Error('boom'), /something unexpected went wrong/],
  ];
  for (const [doing, err, want] of cases) {
    const text = explain(doing, err);
    expect(text).toMatch(want);
    expect(text, text).not.toMatch(JARGON);
    expect(text).toMatch(/[.]$/);
  }
  expect(explain('download', new GridFailure('NO_SERVERS', ''))).not.toMatch(/Servers required/);
});

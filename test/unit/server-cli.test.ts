/** `cairn server` argument checks that need no server. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/command.ts';
import { serverCommand, sizeOption } from '../../cli/commands/server.ts';

describe('cairn server arguments', () => {
  it('reads sizes in decimal and binary units', () => {
    expect(sizeOption(undefined, 'x')).toBe(0);
    expect(sizeOption('123', 'x')).toBe(123);
    expect(sizeOption('500M', 'x')).toBe(500e6);
    expect(sizeOption('1G', 'x')).toBe(1e9);
    expect(sizeOption('1gb', 'x')).toBe(1e9);
    expect(sizeOption('2GiB', 'x')).toBe(2 * 2 ** 30);
    expect(sizeOption('1.5k', 'x')).toBe(1500);
    for (const bad of ['', 'G', '1Q', '-1G', '1 G B']) expect(() => sizeOption(bad, 'x')).toThrow(UsageError);
  });

  it('refuses unusable combinations before starting anything', async () => {
    await expect(serverCommand.run([])).rejects.toThrow(/--dir is required/);
    await expect(serverCommand.run(['--dir', '/nonexistent/x'])).rejects.toThrow(/--port, --relay, or both/);
    await expect(serverCommand.run(['--dir', '/x', '--port', '0', '--relay', 'ftp://x'])).rejects.toThrow(
      /--relay/,
    );
    await expect(
      serverCommand.run(['--dir', '/x', '--port', '0', '--public-url', 'http://x']),
    ).rejects.toThrow(/--public-url/);
    await expect(
      serverCommand.run(['--dir', '/x', '--port', '0', '--nickname', 'n'.repeat(65)]),
    ).rejects.toThrow(/--nickname/);
    await expect(serverCommand.run(['--dir', '/x', '--port', '99999'])).rejects.toThrow(/--port/);
  });
});

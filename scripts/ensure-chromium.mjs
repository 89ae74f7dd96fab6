// pretest: the e2e tests drive Debian's Chromium. Install it when missing and we are
// root on Debian; otherwise say exactly what to install.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  const isRoot = process.getuid?.() === 0;
  const isDebian = existsSync('/etc/debian_version') && existsSync('/usr/bin/apt-get');
  if (isRoot && isDebian) {
    console.log('pretest: installing Debian chromium (apt-get install -y chromium)');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    console.error(
      `pretest: Chromium is missing at ${chromium}. Install it with 'sudo apt-get install -y chromium' ` +
        '(Debian/Ubuntu), or set CHROMIUM_PATH to a Chromium binary.',
    );
    process.exit(1);
  }
}

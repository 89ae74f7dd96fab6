/**
 * The grid this CLI joined (`cairn join CODE`): its bootstrap URLs and the grid managers it
 * trusts, kept in CAIRN_HOME/grid.json. Nothing in it is secret (core/client/invite.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeInvitation, encodeInvitation, type Invitation } from '../core/client/invite.ts';
import { cairnHome } from './paths.ts';

const configFile = () => path.join(cairnHome(), 'grid.json');

export async function joinedGrid(): Promise<Invitation | null> {
  let text: string;
  try {
    text = await fs.readFile(configFile(), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  // Stored as the invitation's own token, so it is checked the same way every time it is read.
  const { invitation } = JSON.parse(text) as { invitation: string };
  return decodeInvitation(invitation);
}

export async function saveJoinedGrid(inv: Invitation): Promise<void> {
  const file = configFile();
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(
    tmp,
    `${JSON.stringify({ invitation: encodeInvitation(inv), grid: inv.grid, gridManagers: inv.gridManagers }, null, 2)}\n`,
  );
  await fs.rename(tmp, file);
}

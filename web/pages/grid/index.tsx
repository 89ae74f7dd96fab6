/** Grid page container: follows the configured grid while shown. */
import { createEffect, createSignal, onCleanup } from 'solid-js';
import { usePageTitle } from '../../components/title.ts';
import { useStore } from '../../store/index.tsx';
import { currentGrid } from '../../store/settings.ts';
import { GridView } from './GridView.tsx';

export default function GridPage() {
  const { grid, settings, device } = useStore();
  usePageTitle(() => 'Grid');
  const endpoint = () => currentGrid(settings.settings());
  // Another grid (Settings changed) is followed afresh: nothing of the old one shows.
  createEffect(() => {
    grid.switchTo(endpoint());
    onCleanup(grid.follow());
  });
  // "Seen 2 min ago" keeps its meaning while the page stays open.
  const [now, setNow] = createSignal(Date.now());
  const tick = setInterval(() => setNow(Date.now()), 5_000);
  onCleanup(() => clearInterval(tick));
  return <GridView state={grid.state} endpoint={endpoint()} online={device.online()} now={now()} />;
}

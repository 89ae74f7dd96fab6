/** Grid page container: shows the cached server list, then the live one. */
import { onMount } from 'solid-js';
import { useStore } from '../../store/index.tsx';
import { gridEndpoint } from '../../store/settings.ts';
import { GridView } from './GridView.tsx';

export default function GridPage() {
  const { grid, settings } = useStore();
  onMount(() => void grid.loadCached());
  return <GridView state={grid.state} endpoint={gridEndpoint(settings.settings(), location.href)} />;
}

/** Grid page container: follows the grid while shown. */
import { onCleanup, onMount } from 'solid-js';
import { useStore } from '../../store/index.tsx';
import { gridEndpoint } from '../../store/settings.ts';
import { GridView } from './GridView.tsx';

export default function GridPage() {
  const { grid, settings } = useStore();
  onMount(() => onCleanup(grid.follow()));
  return <GridView state={grid.state} endpoint={gridEndpoint(settings.settings(), location.href)} />;
}

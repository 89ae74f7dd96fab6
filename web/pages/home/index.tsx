/** Home: upload files. The container wires the uploads slice to the view. */
import { onCleanup, onMount } from 'solid-js';
import { usePageTitle } from '../../components/title.ts';
import { mediaType } from '../../store/format.ts';
import { useStore } from '../../store/index.tsx';
import { capLink } from '../../store/router.ts';
import { currentGrid, linkGrid } from '../../store/settings.ts';
import { UploadView } from './UploadView.tsx';

/** Touch screens without a mouse: nothing there is dragged, so no "drop here". */
const touchOnly = () =>
  typeof matchMedia === 'function' && matchMedia('(hover: none) and (pointer: coarse)').matches;

/** Pure: why an upload would fail now, in words; '' when it should work (or nothing is known yet). */
export function uploadWarning(
  g: { relay: string; checkedAt: number | null; servers: { state: string }[] },
  happy: number,
  gridHost: string,
): string {
  if (g.checkedAt === null) return '';
  const reachable = g.servers.filter((s) => s.state === 'connected').length;
  if (reachable === 0 && g.relay === 'unreachable')
    return `The grid at ${gridHost} cannot be reached now, so uploads will fail. Check your connection and the grid address in Settings.`;
  if (reachable < happy)
    return `Only ${reachable} of the grid's storage servers can be reached now, and each upload needs at least ${happy} (“Servers required” in Settings). Uploads will fail until more servers are back, or lower that number.`;
  return '';
}

export function HomePage() {
  const { uploads, settings, grid, device } = useStore();
  usePageTitle(() => 'Upload');
  // Watch the grid (less often than the Grid page does) so an upload that must fail is warned of.
  onMount(() => onCleanup(grid.follow(30_000)));
  const host = () => {
    try {
      return new URL(currentGrid(settings.settings())).host;
    } catch {
      return 'this address';
    }
  };
  return (
    <UploadView
      editable={uploads.editable()}
      onEditable={uploads.setEditable}
      online={device.online()}
      touch={touchOnly()}
      gridWarning={uploadWarning(grid.state, settings.settings().happy, host())}
      jobs={uploads.state.jobs}
      settings={settings.settings()}
      resultFor={uploads.resultFor}
      linkFor={(job, _result, cap) =>
        capLink(location.origin, location.pathname, cap, {
          name: job.name,
          type: job.type || mediaType(job.name),
          grid: linkGrid(uploads.gridOf(job) ?? currentGrid(settings.settings()), location.href),
        })
      }
      onFiles={(files, handles) => uploads.add(files, { editable: uploads.editable(), handles })}
      onCancel={(id) => uploads.cancel(id)}
      onDismiss={(id) => uploads.dismiss(id)}
      onDismissFinished={() => uploads.dismissFinished()}
      onRetry={(id) => uploads.retry(id)}
      onResumeWith={(id, file) => uploads.resumeWith(id, file)}
      onResumeFromHandle={(id) => void uploads.resumeFromHandle(id)}
    />
  );
}

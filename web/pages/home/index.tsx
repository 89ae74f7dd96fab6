/** Home: upload files. The container wires the uploads slice to the view. */
import { useStore } from '../../store/index.tsx';
import { capLink } from '../../store/router.ts';
import { UploadView } from './UploadView.tsx';

export function HomePage() {
  const { uploads, settings } = useStore();
  return (
    <UploadView
      jobs={uploads.state.jobs}
      settings={settings.settings()}
      linkFor={(cap) => capLink(location.origin, location.pathname, cap)}
      onFiles={(files) => uploads.add(files)}
      onCancel={(id) => uploads.cancel(id)}
      onDismiss={(id) => uploads.dismiss(id)}
    />
  );
}

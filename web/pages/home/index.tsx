/** Home: upload files. The container wires the uploads slice to the view. */
import { createSignal } from 'solid-js';
import { useStore } from '../../store/index.tsx';
import { capLink } from '../../store/router.ts';
import { UploadView } from './UploadView.tsx';

export function HomePage() {
  const { uploads, settings } = useStore();
  const [editable, setEditable] = createSignal(false);
  return (
    <UploadView
      editable={editable()}
      onEditable={setEditable}
      jobs={uploads.state.jobs}
      settings={settings.settings()}
      linkFor={(cap) => capLink(location.origin, location.pathname, cap)}
      onFiles={(files, handles) => uploads.add(files, { editable: editable(), handles })}
      onCancel={(id) => uploads.cancel(id)}
      onDismiss={(id) => uploads.dismiss(id)}
      onRetry={(id) => uploads.retry(id)}
      onResumeWith={(id, file) => uploads.resumeWith(id, file)}
      onResumeFromHandle={(id) => void uploads.resumeFromHandle(id)}
    />
  );
}

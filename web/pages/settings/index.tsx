/** Settings container: holds the draft, validates, saves. */
import { createSignal } from 'solid-js';
import { useStore } from '../../store/index.tsx';
import {
  defaultSettings,
  type Settings,
  type SettingsErrors,
  validateSettings,
} from '../../store/settings.ts';
import { MyFilesSettings } from './MyFilesSettings.tsx';
import { SettingsView } from './SettingsView.tsx';

export default function SettingsPage() {
  const { settings } = useStore();
  const [draft, setDraft] = createSignal<Settings>({ ...settings.settings() });
  const [errors, setErrors] = createSignal<SettingsErrors>({});
  const [status, setStatus] = createSignal('');
  return (
    <>
      <SettingsView
        draft={draft()}
        errors={errors()}
        status={status()}
        onChange={(patch) => {
          const next = { ...draft(), ...patch };
          setDraft(next);
          setStatus('');
          // Re-check as the user types only fields already flagged, so errors clear promptly.
          if (Object.keys(errors()).length > 0) setErrors(validateSettings(next));
        }}
        onSave={() => {
          const errs = settings.save(draft());
          setErrors(errs);
          setStatus(
            Object.keys(errs).length === 0
              ? 'Settings saved.'
              : 'Settings not saved: fix the fields marked below.',
          );
        }}
        onReset={() => {
          settings.reset();
          setDraft({ ...defaultSettings });
          setErrors({});
          setStatus('Default settings restored.');
        }}
      />
      <MyFilesSettings />
    </>
  );
}

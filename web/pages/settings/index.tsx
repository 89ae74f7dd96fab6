/** Settings container: holds the draft, validates, saves. */
import { createSignal } from 'solid-js';
import { usePageTitle } from '../../components/title.ts';
import { deploymentConfig } from '../../store/deployment.ts';
import { useStore } from '../../store/index.tsx';
import {
  defaultSettings,
  type Settings,
  type SettingsErrors,
  validateSettings,
  wsEndpoint,
} from '../../store/settings.ts';
import { MyFilesSettings } from './MyFilesSettings.tsx';
import { SettingsView } from './SettingsView.tsx';

export default function SettingsPage() {
  const { settings } = useStore();
  usePageTitle(() => 'Settings');
  const [draft, setDraft] = createSignal<Settings>({ ...settings.settings() });
  const [errors, setErrors] = createSignal<SettingsErrors>({});
  const [summary, setSummary] = createSignal<SettingsErrors>({});
  const [status, setStatus] = createSignal('');
  const deployed = deploymentConfig().grid;
  const defaultGrid = deployed
    ? `this site's grid, ${wsEndpoint(deployed).replace(/^ws(s?):/, 'http$1:')}`
    : 'the grid that served this page';
  return (
    <>
      <SettingsView
        draft={draft()}
        errors={errors()}
        summary={summary()}
        status={status()}
        defaultGrid={defaultGrid}
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
          setSummary(errs);
          setStatus(Object.keys(errs).length === 0 ? 'Settings saved.' : '');
        }}
        onReset={() => {
          settings.reset();
          setDraft({ ...defaultSettings });
          setErrors({});
          setSummary({});
          setStatus('Default settings restored.');
        }}
      />
      <MyFilesSettings />
    </>
  );
}

import { render } from 'solid-js/web';
import { registerServiceWorker } from '../store/deliver.ts';
import { loadDeploymentConfig } from '../store/deployment.ts';
import { App } from './App.tsx';
import './styles.css';

const root = document.getElementById('app');
if (!root) throw new Error('missing #app element');
// The deployment's grid (config.json) decides where this page's uploads and links go, so it
// is read first; a missing or slow one means the page's own server.
await loadDeploymentConfig();
render(() => <App />, root);
// The service worker exists only in the built bundle (vite's dev server does not make it).
if (import.meta.env.PROD) void registerServiceWorker();

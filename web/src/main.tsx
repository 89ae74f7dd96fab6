import { render } from 'solid-js/web';
import { registerServiceWorker } from '../store/deliver.ts';
import { App } from './App.tsx';
import './styles.css';

const root = document.getElementById('app');
if (!root) throw new Error('missing #app element');
render(() => <App />, root);
// The service worker exists only in the built bundle (vite's dev server does not make it).
if (import.meta.env.PROD) void registerServiceWorker();

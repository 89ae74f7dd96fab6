/** Grid page view: one row per storage server. */
import { For, Show } from 'solid-js';
import { formatBytes, formatDate } from '../../store/format.ts';
import type { ServerInfo } from '../../store/grid.ts';

export function GridView(props: {
  state: { servers: ServerInfo[]; updated: number | null; stale: boolean; error: string | null };
  endpoint: string;
}) {
  const connected = () => props.state.servers.filter((s) => s.connected === true).length;
  return (
    <section>
      <h1>Grid</h1>
      <p class="muted">
        Grid at <code>{props.endpoint}</code>. <a href="#/settings">Change</a>
      </p>
      <Show when={props.state.error}>
        <p role="alert" class="error">
          {props.state.error}
        </p>
      </Show>
      <Show
        when={props.state.servers.length > 0}
        fallback={
          <p>{props.state.stale ? 'No server list yet.' : 'The grid announces no storage servers.'}</p>
        }
      >
        <p role="status">
          {props.state.servers.some((s) => s.connected === null)
            ? `Checking ${props.state.servers.length} servers…`
            : `${connected()} of ${props.state.servers.length} servers connected`}
          <Show when={props.state.updated}>
            {(t) => (
              <>
                {' '}
                · {props.state.stale ? 'last seen' : 'updated'} {formatDate(t())}
              </>
            )}
          </Show>
        </p>
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Storage servers</caption>
            <thead>
              <tr>
                <th scope="col">Nickname</th>
                <th scope="col">Connected</th>
                <th scope="col">Space left</th>
                <th scope="col">Round trip</th>
              </tr>
            </thead>
            <tbody>
              <For each={props.state.servers}>
                {(s) => (
                  <tr>
                    <th scope="row" title={s.id}>
                      {s.nickname}
                    </th>
                    <td>
                      <span class={s.connected === null ? 'muted' : s.connected ? 'ok' : 'error'}>
                        {s.connected === null ? 'checking…' : s.connected ? 'yes' : 'no'}
                      </span>
                    </td>
                    <td>{s.availableSpace === null ? '—' : formatBytes(s.availableSpace)}</td>
                    <td>{s.rttMs === null ? '—' : `${Math.round(s.rttMs)} ms`}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </Show>
    </section>
  );
}

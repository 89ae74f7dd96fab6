/** Grid page view: the relay, then one row per known storage server. Renders only. */
import { For, Match, Show, Switch } from 'solid-js';
import { formatBytes } from '../../store/format.ts';
import { type GridState, type ServerInfo, seenAgo } from '../../store/grid.ts';

const STATE_TEXT: Record<ServerInfo['state'], string> = {
  connected: 'connected',
  unreachable: 'unreachable',
  refusing: 'refusing',
  checking: 'checking…',
};

const STATE_CLASS: Record<ServerInfo['state'], string> = {
  connected: 'ok',
  unreachable: 'error',
  refusing: 'error',
  checking: 'muted',
};

export function GridView(props: { state: GridState; endpoint: string; online: boolean; now: number }) {
  const count = (st: ServerInfo['state']) => props.state.servers.filter((s) => s.state === st).length;
  const total = () => props.state.servers.length;
  const summary = () => {
    if (props.state.checkedAt === null) return `Checking ${total() > 0 ? `${total()} servers` : 'the grid'}…`;
    const parts = [`${count('connected')} of ${total()} servers connected`];
    if (count('unreachable')) parts.push(`${count('unreachable')} unreachable`);
    if (count('refusing')) parts.push(`${count('refusing')} refusing`);
    return parts.join(' · ');
  };
  return (
    <section>
      <h1>Grid</h1>
      <p class="muted">
        Grid at <code>{props.endpoint}</code>. <a href="#/settings">Change</a>
      </p>
      <Switch>
        <Match when={!props.online}>
          <p class="warning">
            This device is offline: the grid cannot be reached. Below is what this browser saw of it before.
          </p>
        </Match>
        <Match when={props.state.relay === 'unreachable'}>
          <p class="warning">
            The grid's relay at <code>{props.endpoint}</code> cannot be reached now.{' '}
            {total() > 0
              ? 'Below are the servers it listed before, as this browser can reach them.'
              : 'Check your connection and the grid address in Settings.'}
          </p>
        </Match>
      </Switch>
      <Show
        when={total() > 0}
        fallback={
          <p role="status">
            {props.state.checkedAt === null
              ? 'Checking the grid…'
              : props.state.relay === 'reached'
                ? 'The grid lists no storage servers.'
                : 'Nothing is known about this grid yet.'}
          </p>
        }
      >
        <p role="status">{summary()}</p>
        {/* Scrolls sideways on a phone: focusable, so the keyboard can scroll it too. */}
        <section class="table-wrap" tabindex="0" aria-label="Storage servers">
          <table>
            <caption class="visually-hidden">Storage servers</caption>
            <thead>
              <tr>
                <th scope="col">Nickname</th>
                <th scope="col">State</th>
                <th scope="col">Last seen</th>
                <th scope="col">Space left</th>
                <th scope="col">Round trip</th>
              </tr>
            </thead>
            <tbody>
              <For each={props.state.servers}>
                {(s) => (
                  <tr>
                    <th scope="row" title={s.id}>
                      {s.nickname || `${s.id.slice(0, 12)}…`}
                    </th>
                    <td>
                      <span class={STATE_CLASS[s.state]}>{STATE_TEXT[s.state]}</span>
                      <Show when={!s.listed}>
                        <span class="muted small"> (no longer listed)</span>
                      </Show>
                    </td>
                    <td>{s.state === 'connected' ? 'now' : seenAgo(s.lastSeen, props.now)}</td>
                    <td>{s.availableSpace === null ? '—' : formatBytes(s.availableSpace)}</td>
                    <td>{s.rttMs === null ? '—' : `${Math.round(s.rttMs)} ms`}</td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </section>
        <p class="muted small">
          Connected: it answers now. Unreachable: nothing answers at its address (stopped, or the network is
          in the way). Refusing: it answers but turns this browser away.
        </p>
      </Show>
    </section>
  );
}

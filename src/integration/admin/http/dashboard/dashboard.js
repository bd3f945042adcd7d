/*
 * The integration admin dashboard: plain JavaScript, no framework, no network but this
 * module's own JSON API (relative to the page's <base>). Data is written with textContent
 * only, never as HTML. Charts are SVG drawn here.
 */
'use strict';

(function dashboard() {
  const TOKEN_KEY = 'nestjs-integration.admin-token';
  const PAGE_SIZE = 50;
  const SVG = 'http://www.w3.org/2000/svg';
  const STATUSES = ['dead_letter', 'pending', 'processing', 'processed', 'skipped'];

  const $ = (id) => document.getElementById(id);
  const view = $('view');
  const status = $('status');
  const login = $('login');
  const signOut = $('sign-out');

  /** An element with attributes (event handlers for `on*` keys) and children. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'text') el.textContent = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    for (const child of children) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const when = (value) => (value ? new Date(value).toLocaleString() : '—');

  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = kind || '';
  }

  // ---- token ------------------------------------------------------------------------------

  function readToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      // Out of the address bar and the history at once.
      history.replaceState(null, '', location.pathname + location.search + '#/dead-letters');
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class NotAuthorized extends Error {}

  function showLogin(message) {
    view.replaceChildren();
    login.hidden = false;
    signOut.hidden = true;
    say(message, 'error');
    $('token-input').focus();
  }

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token-input').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('token-input').value = '';
    route();
  });

  signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('Signed out: the token is forgotten.');
  });

  // ---- API --------------------------------------------------------------------------------

  /** Calls the JSON API; 401/403 on a read means "not authorized" (no data is shown). */
  async function api(path, options) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new NotAuthorized('Not authorized: enter the admin token.');
    const init = {
      method: (options && options.method) || 'GET',
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    };
    if (options && options.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(`api/${path}`, init);
    const body = await response.json().catch(() => ({}));
    if (response.ok) return body;
    const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
    if ((response.status === 401 || response.status === 403) && init.method === 'GET') {
      throw new NotAuthorized(
        `Not authorized (${response.status}): ${message || 'check the token'}.`,
      );
    }
    if (response.status === 403) {
      throw new Error(`Refused (403): this token may read but not change anything.`);
    }
    throw new Error(`${response.status}: ${message || response.statusText}`);
  }

  const query = (params) => {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) q.set(key, value);
    const text = q.toString();
    return text ? `?${text}` : '';
  };

  // ---- confirmation dialog ----------------------------------------------------------------

  const dialog = $('confirm');
  /**
   * Asks for confirmation and a reason; resolves with the reason, or null when cancelled.
   * `run(reason)` does the action while the dialog stays open, so an error shows in it.
   */
  function confirmAction({ title, text, reasonRequired, confirmLabel, run }) {
    const opener = document.activeElement;
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = confirmLabel || 'Confirm';
    const reason = $('confirm-reason');
    reason.value = '';
    reason.required = !!reasonRequired;
    $('confirm-reason').previousElementSibling.textContent = reasonRequired
      ? 'Reason (required)'
      : 'Reason (recorded in the audit trail)';
    $('confirm-error').textContent = '';
    return new Promise((resolve) => {
      const form = $('confirm-form');
      const finish = (result) => {
        form.removeEventListener('submit', onSubmit);
        $('confirm-cancel').removeEventListener('click', onCancel);
        dialog.removeEventListener('cancel', onCancel);
        if (dialog.open) dialog.close();
        if (opener && opener.isConnected) opener.focus();
        resolve(result);
      };
      const onCancel = (event) => {
        event.preventDefault();
        finish(null);
      };
      const onSubmit = async (event) => {
        event.preventDefault();
        const value = reason.value.trim();
        if (reasonRequired && !value) {
          $('confirm-error').textContent = 'Give a reason: it is recorded in the audit trail.';
          reason.focus();
          return;
        }
        $('confirm-ok').disabled = true;
        try {
          finish(await run(value || undefined));
        } catch (error) {
          $('confirm-error').textContent = error.message;
        } finally {
          $('confirm-ok').disabled = false;
        }
      };
      form.addEventListener('submit', onSubmit);
      $('confirm-cancel').addEventListener('click', onCancel);
      dialog.addEventListener('cancel', onCancel);
      dialog.showModal();
      reason.focus();
    });
  }

  const actionSummary = (result) =>
    `${result.action}: ${result.affected} ${result.affected === 1 ? 'delivery' : 'deliveries'}` +
    `${result.dryRun ? ' (dry run)' : ''}${result.complete ? '' : ' — more match: run it again'}` +
    ` (audit ${result.auditId}).`;

  // ---- charts -----------------------------------------------------------------------------

  /** A line chart of per-consumer series over time, as inline SVG, with a text summary. */
  function lineChart(title, series, unit) {
    const width = 640;
    const height = 200;
    const pad = { left: 48, right: 12, top: 12, bottom: 28 };
    const points = series.flatMap((s) => s.points);
    const figure = h('figure', { class: 'chart' }, h('figcaption', { text: title }));
    if (!points.length) {
      figure.append(h('p', { class: 'empty', text: 'No data in this period.' }));
      return figure;
    }
    const t0 = Math.min(...points.map((p) => p.t));
    const t1 = Math.max(...points.map((p) => p.t), t0 + 60_000);
    const vMax = Math.max(1, ...points.map((p) => p.v));
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (v) => height - pad.bottom - (v / vMax) * (height - pad.top - pad.bottom);
    const summary = series
      .map((s) => `${s.name}: max ${Math.max(...s.points.map((p) => p.v))} ${unit}`)
      .join('; ');
    const chart = svg(
      'svg',
      {
        viewBox: `0 0 ${width} ${height}`,
        role: 'img',
        'aria-label': `${title}. ${summary}`,
        class: 'chart-svg',
      },
      svg('title', {}, title),
    );
    for (const v of [0, vMax / 2, vMax]) {
      chart.append(
        svg('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }),
        svg(
          'text',
          { x: pad.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' },
          round(v),
        ),
      );
    }
    for (const t of [t0, t1]) {
      chart.append(
        svg(
          'text',
          { x: x(t), y: height - 8, class: 'axis', 'text-anchor': t === t0 ? 'start' : 'end' },
          new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
        ),
      );
    }
    series.forEach((s, i) => {
      const sorted = [...s.points].sort((a, b) => a.t - b.t);
      const d = sorted.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
      chart.append(svg('polyline', { points: d, class: `series series-${i % 6}` }));
      if (sorted.length === 1) {
        chart.append(
          svg('circle', {
            cx: x(sorted[0].t),
            cy: y(sorted[0].v),
            r: 3,
            class: `dot series-${i % 6}`,
          }),
        );
      }
    });
    figure.append(
      chart,
      h(
        'ul',
        { class: 'legend' },
        series.map((s, i) => h('li', {}, h('span', { class: `swatch series-${i % 6}` }), s.name)),
      ),
    );
    return figure;
  }

  const round = (v) => (v >= 10 ? Math.round(v) : Math.round(v * 10) / 10);

  function seriesOf(throughput, pick) {
    const byConsumer = new Map();
    for (const point of throughput) {
      const v = pick(point);
      if (v === null || v === undefined) continue;
      if (!byConsumer.has(point.consumer)) byConsumer.set(point.consumer, []);
      byConsumer.get(point.consumer).push({ t: new Date(point.at).getTime(), v });
    }
    return [...byConsumer].map(([name, points]) => ({ name, points }));
  }

  // ---- views ------------------------------------------------------------------------------

  function table(caption, headers, rows) {
    return h(
      'table',
      {},
      h('caption', { text: caption }),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((text) => h('th', { scope: 'col', text })),
        ),
      ),
      h('tbody', {}, rows),
    );
  }

  async function overviewView() {
    const overview = await api(`overview${query({ minutes: '60' })}`);
    const backlogRows = overview.backlog.map((b) =>
      h(
        'tr',
        {},
        h(
          'th',
          { scope: 'row' },
          h('a', {
            href: `#/dead-letters?consumer=${encodeURIComponent(b.consumer)}`,
            text: b.consumer,
          }),
        ),
        h('td', { class: 'num', text: b.pending }),
        h('td', { class: 'num', text: b.processing }),
        h('td', { class: 'num', text: b.deadLetter }),
        h('td', { class: 'num', text: duration(b.oldestDueMs) }),
      ),
    );
    return [
      h('h2', { text: 'Overview' }),
      overview.backlog.length
        ? table(
            'Backlog per consumer',
            ['Consumer', 'Pending', 'Processing', 'Dead letters', 'Oldest pending'],
            backlogRows,
          )
        : h('p', { text: 'No consumer has a backlog.' }),
      h(
        'div',
        { class: 'charts' },
        lineChart(
          'Processed per minute',
          seriesOf(overview.throughput, (p) => p.processed),
          'per minute',
        ),
        lineChart(
          'Mean latency (publish to commit), ms',
          seriesOf(overview.throughput, (p) => p.meanLatencyMs),
          'ms',
        ),
        lineChart(
          'Dead-lettered per minute',
          seriesOf(overview.throughput, (p) => p.deadLettered),
          'per minute',
        ),
      ),
    ];
  }

  /** Filters of the dead-letter list, kept in the address (`#/dead-letters?consumer=…`). */
  const FILTERS = [
    ['consumer', 'Consumer'],
    ['eventName', 'Event name'],
    ['correlationId', 'Correlation id'],
  ];

  async function deadLettersView(params) {
    const filter = {};
    for (const [key] of FILTERS) if (params.get(key)) filter[key] = params.get(key);
    const statusFilter = STATUSES.includes(params.get('status'))
      ? params.get('status')
      : 'dead_letter';
    const after = params.get('after') || '';
    const trail = (params.get('trail') || '').split(',').filter(Boolean);
    const listQuery = { ...filter, status: statusFilter };
    const [page, count] = await Promise.all([
      api(`deliveries${query({ ...listQuery, limit: String(PAGE_SIZE), after })}`),
      api(`deliveries/count${query(listQuery)}`),
    ]);

    const form = h(
      'form',
      { class: 'filters', 'aria-label': 'Filter deliveries', id: 'filters' },
      FILTERS.map(([key, label]) =>
        h(
          'div',
          { class: 'field' },
          h('label', { for: `filter-${key}`, text: label }),
          h('input', {
            id: `filter-${key}`,
            name: key,
            value: filter[key] || '',
            autocomplete: 'off',
          }),
        ),
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'filter-status', text: 'Status' }),
        h(
          'select',
          { id: 'filter-status', name: 'status' },
          STATUSES.map((s) =>
            h('option', { value: s, selected: s === statusFilter, text: s.replace('_', ' ') }),
          ),
        ),
      ),
      h(
        'div',
        { class: 'field buttons' },
        h('button', { type: 'submit', text: 'Apply filters' }),
        h('button', { type: 'button', onclick: () => go('#/dead-letters'), text: 'Clear' }),
      ),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [key, value] of new FormData(form))
        if (value && !(key === 'status' && value === 'dead_letter')) next.set(key, String(value));
      go(`#/dead-letters${next.toString() ? `?${next}` : ''}`);
    });

    const rows = page.items.map((d) =>
      h(
        'tr',
        {},
        h(
          'td',
          {},
          h('a', { href: `#/events/${encodeURIComponent(d.eventId)}`, text: d.eventName }),
        ),
        h('td', { text: d.consumer }),
        h('td', { class: 'num', text: d.attemptCount }),
        h('td', { class: 'error-text', text: d.lastError || '' }),
        h('td', { text: d.correlationId || '' }),
        h('td', { text: when(d.updatedAt) }),
      ),
    );
    const base = new URLSearchParams(params);
    const pageLink = (nextAfter, nextTrail) => {
      const p = new URLSearchParams(base);
      if (nextAfter) p.set('after', nextAfter);
      else p.delete('after');
      if (nextTrail.length) p.set('trail', nextTrail.join(','));
      else p.delete('trail');
      return `#/dead-letters?${p}`;
    };
    const pager = h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages' },
      h('button', {
        type: 'button',
        disabled: !after,
        onclick: () =>
          go(
            pageLink(
              trail[trail.length - 1] === '-' ? '' : trail[trail.length - 1],
              trail.slice(0, -1),
            ),
          ),
        text: 'Previous page',
      }),
      h('span', {
        text: `Page ${trail.length + 1} of ${Math.max(1, Math.ceil(count.count / PAGE_SIZE))}`,
      }),
      h('button', {
        type: 'button',
        disabled: !page.nextCursor,
        onclick: () => go(pageLink(page.nextCursor, [...trail, after || '-'])),
        text: 'Next page',
      }),
    );
    const bulk =
      statusFilter === 'dead_letter' && count.count > 0
        ? h('button', {
            type: 'button',
            id: 'replay-matching',
            text: `Replay all ${count.count} matching…`,
            onclick: () =>
              confirmAction({
                title: 'Replay matching dead letters',
                text: `Put the ${count.count} dead letters matching this filter back to pending (at most 10000 per run).`,
                confirmLabel: 'Replay',
                run: (reason) =>
                  api('deliveries/replay', { method: 'POST', body: { filter, reason } }),
              }).then((result) => result && done(result)),
          })
        : null;
    const heading =
      statusFilter === 'dead_letter'
        ? 'Dead letters'
        : `Deliveries: ${statusFilter.replace('_', ' ')}`;
    return [
      h('h2', { text: heading }),
      form,
      h(
        'p',
        { class: 'count', id: 'match-count', text: `${count.count} matching` },
        bulk ? ' ' : null,
        bulk,
      ),
      rows.length
        ? table(
            heading,
            ['Event', 'Consumer', 'Attempts', 'Last error', 'Correlation id', 'Last change'],
            rows,
          )
        : h('p', { class: 'empty', text: 'Nothing matches.' }),
      pager,
    ];
  }

  async function eventView(eventId) {
    const detail = await api(`events/${encodeURIComponent(eventId)}`);
    const e = detail.event;
    const fields = [
      ['Id', e.id],
      ['Name', `${e.name} v${e.version}`],
      ['Aggregate', `${e.aggregateType} ${e.aggregateId}`],
      ['Tenant', e.tenantId || '—'],
      ['Correlation id', e.correlationId || '—'],
      ['Causation id', e.causationId || '—'],
      ['Source module', e.sourceModule || '—'],
      ['Created', when(e.createdAt)],
    ];
    const deliveryRows = detail.deliveries.map((d) => {
      const actions = [];
      if (d.status === 'dead_letter') {
        actions.push(
          h('button', {
            type: 'button',
            class: 'replay',
            'aria-label': `Replay ${d.consumer}`,
            text: 'Replay',
            onclick: () =>
              confirmAction({
                title: `Replay for ${d.consumer}`,
                text: `Put ${d.consumer}'s dead letter of ${e.name} back to pending (attempts reset).`,
                confirmLabel: 'Replay',
                run: (reason) =>
                  api(
                    `events/${encodeURIComponent(e.id)}/deliveries/${encodeURIComponent(d.consumer)}/replay`,
                    { method: 'POST', body: reason ? { reason } : {} },
                  ),
              }).then((result) => result && done(result)),
          }),
        );
      }
      if (d.status === 'dead_letter' || d.status === 'pending') {
        actions.push(
          h('button', {
            type: 'button',
            class: 'discard',
            'aria-label': `Discard ${d.consumer}`,
            text: 'Discard',
            onclick: () =>
              confirmAction({
                title: `Discard for ${d.consumer}`,
                text: `Mark ${d.consumer}'s delivery of ${e.name} as skipped: its handler will never run for this event.`,
                reasonRequired: true,
                confirmLabel: 'Discard',
                run: (reason) =>
                  api(
                    `events/${encodeURIComponent(e.id)}/deliveries/${encodeURIComponent(d.consumer)}/discard`,
                    { method: 'POST', body: { reason } },
                  ),
              }).then((result) => result && done(result)),
          }),
        );
      }
      return h(
        'tr',
        { 'data-consumer': d.consumer },
        h('th', { scope: 'row', text: d.consumer }),
        h('td', { class: `status status-${d.status}`, text: d.status.replace('_', ' ') }),
        h('td', { class: 'num', text: d.attemptCount }),
        h('td', { text: when(d.availableAt) }),
        h('td', { class: 'error-text', text: d.lastError || '' }),
        h('td', { text: d.lockedBy ? `${d.lockedBy} until ${when(d.lockedUntil)}` : '—' }),
        h('td', { class: 'actions' }, actions),
      );
    });
    const correlated = detail.correlated.map((c) =>
      h(
        'li',
        {},
        h('a', {
          href: `#/events/${encodeURIComponent(c.id)}`,
          text: `${c.name} (${c.aggregateType} ${c.aggregateId})`,
        }),
        ` — ${when(c.createdAt)}`,
      ),
    );
    return [
      h('p', {}, h('a', { href: '#/dead-letters', text: '← Dead letters' })),
      h('h2', { text: `Event ${e.name}` }),
      h(
        'dl',
        { class: 'fields' },
        fields.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]),
      ),
      table(
        'Deliveries',
        ['Consumer', 'Status', 'Attempts', 'Next attempt', 'Last error', 'Lease', 'Actions'],
        deliveryRows,
      ),
      detail.deliveries.some((d) => d.status === 'dead_letter')
        ? h(
            'p',
            {},
            h('button', {
              type: 'button',
              text: 'Replay every dead letter of this event…',
              onclick: () =>
                confirmAction({
                  title: 'Replay this event',
                  text: `Put every dead-lettered delivery of ${e.name} back to pending.`,
                  confirmLabel: 'Replay',
                  run: (reason) =>
                    api(`events/${encodeURIComponent(e.id)}/replay`, {
                      method: 'POST',
                      body: reason ? { reason } : {},
                    }),
                }).then((result) => result && done(result)),
            }),
          )
        : null,
      h('h3', { text: 'Payload' }),
      h('pre', { class: 'json', tabindex: '0', text: JSON.stringify(e.payload, null, 2) }),
      h('h3', { text: 'Headers' }),
      h('pre', { class: 'json', tabindex: '0', text: JSON.stringify(e.headers, null, 2) }),
      h('h3', { text: 'Correlated events' }),
      correlated.length ? h('ul', {}, correlated) : h('p', { text: 'None.' }),
    ];
  }

  async function auditView(params) {
    const after = params.get('after') || '';
    const page = await api(`audit${query({ limit: String(PAGE_SIZE), after })}`);
    const rows = page.items.map((a) =>
      h(
        'tr',
        {},
        h('td', { text: when(a.createdAt) }),
        h('td', { text: a.action + (a.dryRun ? ' (dry run)' : '') }),
        h('td', { text: a.actor }),
        h('td', { text: a.reason || '' }),
        h('td', { class: 'num', text: a.affected }),
        h('td', {}, h('code', { text: JSON.stringify(a.target) })),
      ),
    );
    return [
      h('h2', { text: 'Audit trail' }),
      rows.length
        ? table(
            'Admin actions, newest first',
            ['When', 'Action', 'Actor', 'Reason', 'Affected', 'Target'],
            rows,
          )
        : h('p', { class: 'empty', text: 'No action yet.' }),
      h(
        'nav',
        { class: 'pager', 'aria-label': 'Pages' },
        h('button', {
          type: 'button',
          disabled: !after,
          onclick: () => go('#/audit'),
          text: 'First page',
        }),
        h('button', {
          type: 'button',
          disabled: !page.nextCursor,
          onclick: () => go(`#/audit?after=${encodeURIComponent(page.nextCursor)}`),
          text: 'Next page',
        }),
      ),
    ];
  }

  // ---- routing ----------------------------------------------------------------------------

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function done(result) {
    route().then(() => say(actionSummary(result), 'ok'));
  }

  let generation = 0;
  async function route() {
    const current = ++generation;
    const hash = location.hash.startsWith('#/') ? location.hash.slice(2) : 'dead-letters';
    const [path, search] = hash.split('?');
    const params = new URLSearchParams(search || '');
    const [section, id] = path.split('/');
    for (const link of document.querySelectorAll('[data-nav]')) {
      if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    say('Loading…');
    try {
      if (!readToken()) throw new NotAuthorized('Not authorized: enter the admin token.');
      let content;
      if (section === 'overview') content = await overviewView();
      else if (section === 'audit') content = await auditView(params);
      else if (section === 'events' && id) content = await eventView(decodeURIComponent(id));
      else content = await deadLettersView(params);
      if (current !== generation) return;
      login.hidden = true;
      signOut.hidden = false;
      view.replaceChildren(...content.flat().filter(Boolean));
      view.dataset.view = section || 'dead-letters';
      say('');
    } catch (error) {
      if (current !== generation) return;
      if (error instanceof NotAuthorized) showLogin(error.message);
      else {
        view.replaceChildren();
        say(error.message, 'error');
      }
    }
  }

  // `/admin` and `/admin/` are one page; with the slash, relative links stay on the page.
  if (!location.pathname.endsWith('/')) {
    history.replaceState(null, '', `${location.pathname}/${location.search}${location.hash}`);
  }
  readToken();
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#/') || /token=/.test(location.hash)) route();
  });
  route();
})();

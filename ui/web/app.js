// meridian's web UI: plain JavaScript over the Prometheus HTTP API.
// Pages: /query (and /, /graph), /explore, /status. No framework; uPlot draws
// the graphs. Every request goes to this server only.
(function () {
  'use strict';

  // ---- helpers -------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'value') e.value = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const tenantInput = document.getElementById('tenant');
  // A page opened with ?tenant=NAME (a bookmark, a link) is that tenant's.
  const urlTenant = new URLSearchParams(location.search).get('tenant');
  if (urlTenant !== null) localStorage.setItem('meridian.tenant', urlTenant.trim());
  tenantInput.value = localStorage.getItem('meridian.tenant') || '';
  tenantInput.addEventListener('change', () => {
    localStorage.setItem('meridian.tenant', tenantInput.value.trim());
    route();
  });

  function headers() {
    const t = tenantInput.value.trim();
    return t ? { 'X-Scope-OrgID': t } : {};
  }

  // An API call; resolves to the envelope's data, or rejects with an Error
  // whose message is the API's own error text (Prometheus's, unchanged).
  async function api(path, params, post) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
      else if (v !== undefined && v !== null && v !== '') body.append(k, v);
    }
    let resp;
    try {
      resp = post
        ? await fetch(path, { method: 'POST', headers: { ...headers(), 'Content-Type': 'application/x-www-form-urlencoded' }, body })
        : await fetch(path + (body.toString() ? '?' + body : ''), { headers: headers() });
    } catch (e) {
      throw new Error('the server did not answer: ' + e.message);
    }
    const text = await resp.text();
    let j;
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new Error(`HTTP ${resp.status}: ${text.trim().slice(0, 500)}`);
    }
    if (j.status !== 'success') {
      const err = new Error(j.error || `HTTP ${resp.status}`);
      err.errorType = j.errorType;
      throw err;
    }
    return { data: j.data, warnings: j.warnings || [], infos: j.infos || [] };
  }

  // Prometheus durations: 1y2w3d4h5m6s7ms.
  const UNITS = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };
  function parseDuration(s) {
    s = (s || '').trim();
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
    const re = /(\d+)(ms|y|w|d|h|m|s)/g;
    let total = 0, pos = 0, m;
    while ((m = re.exec(s)) !== null) {
      if (m.index !== pos) return null;
      total += parseInt(m[1], 10) * UNITS[m[2]];
      pos = re.lastIndex;
    }
    return pos === s.length && pos > 0 ? total : null;
  }
  function formatDuration(sec) {
    if (!sec) return '0s';
    let out = '', ms = Math.round(sec * 1000);
    for (const [u, f] of [['y', 31536000000], ['w', 604800000], ['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000], ['ms', 1]]) {
      if (ms >= f) { out += Math.floor(ms / f) + u; ms %= f; }
    }
    return out;
  }
  function pad(n) { return String(n).padStart(2, '0'); }
  // "YYYY-MM-DD HH:mm:ss" in UTC, as Prometheus's URLs carry end times.
  function formatTime(ms) {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }
  function parseTime(s) {
    s = (s || '').trim();
    if (!s) return null;
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1000;
    const t = Date.parse(s.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? '' : 'Z'));
    return isNaN(t) ? null : t;
  }

  function seriesName(metric) {
    const name = metric.__name__ || '';
    const labels = Object.keys(metric).filter((k) => k !== '__name__').sort()
      .map((k) => `${k}=${JSON.stringify(metric[k])}`);
    return labels.length || !name ? `${name}{${labels.join(', ')}}` : name;
  }

  function notices(r) {
    return [
      ...r.warnings.map((w) => el('div', { class: 'warning' }, 'Warning: ' + w)),
      ...r.infos.map((w) => el('div', { class: 'warning' }, 'Info: ' + w)),
    ];
  }

  function errorBox(prefix, e) {
    return el('div', { class: 'error' }, prefix + e.message);
  }

  // ---- query page ------------------------------------------------------------

  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
    '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173'];

  function newPanel() {
    return { expr: '', tab: 'graph', range: 3600, end: null, step: null, stacked: false };
  }

  // Prometheus 3's /query and the classic /graph URL parameters.
  function panelsFromURL(search) {
    const p = new URLSearchParams(search);
    const panels = [];
    for (let i = 0; p.has(`g${i}.expr`); i++) {
      const g = (k) => p.get(`g${i}.${k}`);
      const panel = newPanel();
      panel.expr = g('expr');
      const tab = g('tab');
      if (tab === '1' || tab === 'table') panel.tab = 'table';
      else panel.tab = 'graph';
      if (g('range_input')) panel.range = parseDuration(g('range_input')) || panel.range;
      const end = g('end_input') || g('moment_input');
      if (end) panel.end = parseTime(end);
      if (parseInt(g('step_input'), 10) > 0) panel.step = parseInt(g('step_input'), 10);
      if ((g('res_type') === 'fixed' || g('res_type') === 'custom') && parseFloat(g('res_step')) > 0) {
        panel.step = parseFloat(g('res_step'));
      }
      if (g('stacked') === '1' || g('display_mode') === 'stacked') panel.stacked = true;
      panels.push(panel);
    }
    return panels;
  }

  function panelsToURL(panels) {
    const p = new URLSearchParams();
    if (tenantInput.value.trim()) p.append('tenant', tenantInput.value.trim());
    panels.forEach((x, i) => {
      p.append(`g${i}.expr`, x.expr);
      p.append(`g${i}.show_tree`, '0');
      p.append(`g${i}.tab`, x.tab);
      if (x.end !== null) {
        p.append(`g${i}.end_input`, formatTime(x.end));
        p.append(`g${i}.moment_input`, formatTime(x.end));
      }
      p.append(`g${i}.range_input`, formatDuration(x.range));
      if (x.step) {
        p.append(`g${i}.res_type`, 'fixed');
        p.append(`g${i}.res_step`, String(x.step));
      } else {
        p.append(`g${i}.res_type`, 'auto');
        p.append(`g${i}.res_density`, 'medium');
      }
      p.append(`g${i}.display_mode`, x.stacked ? 'stacked' : 'lines');
      p.append(`g${i}.show_exemplars`, '0');
    });
    return '/query?' + p.toString();
  }

  // The classic UI's and Prometheus 3's medium auto resolution: 250 points.
  function effectiveStep(panel) {
    return panel.step || Math.max(Math.floor(panel.range / 250), 1);
  }

  function queryPage(main) {
    let panels = panelsFromURL(location.search);
    const fromURL = panels.length > 0;
    if (!panels.length) panels = [newPanel()];
    const charts = [];

    function saveURL() {
      history.replaceState(null, '', panelsToURL(panels));
    }
    // A classic /graph bookmark becomes Prometheus 3's /query form.
    if (fromURL) saveURL();

    function render() {
      charts.splice(0).forEach((c) => c.destroy());
      main.replaceChildren(
        ...panels.map((p, i) => panelView(p, i)),
        el('button', { class: 'plain', onclick: () => { panels.push(newPanel()); saveURL(); render(); } }, 'Add panel'));
    }

    function panelView(panel, index) {
      const out = el('div', { class: 'result' });
      const input = el('textarea', { rows: 1, placeholder: 'Expression (press Shift+Enter for newlines)', spellcheck: 'false', class: 'expr' });
      input.value = panel.expr;
      const execute = () => { panel.expr = input.value; saveURL(); run(); };
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); execute(); }
      });
      const rangeIn = el('input', { class: 'range', value: formatDuration(panel.range), title: 'range, e.g. 1h, 30m, 2d' });
      const endIn = el('input', { class: 'end', value: panel.end === null ? '' : formatTime(panel.end), placeholder: 'end: now', title: 'end time, UTC (YYYY-MM-DD HH:mm:ss); empty: now' });
      const stepIn = el('input', { class: 'step', value: panel.step ? String(panel.step) : '', placeholder: 'step: auto', title: 'resolution in seconds; empty: range/250' });
      const stacked = el('input', { type: 'checkbox', class: 'stacked' });
      stacked.checked = panel.stacked;
      const controlsChanged = () => {
        const r = parseDuration(rangeIn.value);
        if (r) panel.range = r; else rangeIn.value = formatDuration(panel.range);
        panel.end = parseTime(endIn.value);
        const s = parseDuration(stepIn.value);
        panel.step = s && s > 0 ? s : null;
        panel.stacked = stacked.checked;
        execute();
      };
      for (const c of [rangeIn, endIn, stepIn, stacked]) c.addEventListener('change', controlsChanged);
      const tab = (name, label) => el('button', {
        class: 'tab' + (panel.tab === name ? ' active' : ''), 'data-tab': name,
        onclick: () => { panel.tab = name; saveURL(); render(); },
      }, label);
      const removeBtn = panels.length > 1
        ? el('button', { class: 'plain', title: 'remove this panel', onclick: () => { panels.splice(index, 1); saveURL(); render(); } }, '×')
        : null;

      async function run() {
        if (!panel.expr.trim()) { out.replaceChildren(el('div', { class: 'muted' }, 'Enter an expression.')); return; }
        out.replaceChildren(el('div', { class: 'muted' }, 'Loading…'));
        const t0 = performance.now();
        try {
          if (panel.tab === 'graph') await runGraph(panel, out, charts, t0);
          else await runTable(panel, out, t0);
        } catch (e) {
          out.replaceChildren(errorBox('Error executing query: ', e));
        }
      }

      const view = el('div', { class: 'panel', 'data-panel': index },
        el('div', { class: 'exprrow' }, input, el('button', { class: 'execute', onclick: execute }, 'Execute'), removeBtn),
        el('div', { class: 'tabs' }, tab('table', 'Table'), tab('graph', 'Graph'),
          el('span', { class: 'controls' },
            panel.tab === 'graph' ? [el('label', {}, 'range ', rangeIn), el('label', {}, 'step ', stepIn), el('label', {}, stacked, ' stacked')] : [],
            el('label', {}, panel.tab === 'graph' ? 'end ' : 'at ', endIn))),
        out);
      if (panel.expr) setTimeout(run, 0);
      return view;
    }

    render();
  }

  async function runTable(panel, out, t0) {
    const time = panel.end === null ? Date.now() / 1000 : panel.end / 1000;
    const r = await api('/api/v1/query', { query: panel.expr, time }, true);
    const d = r.data;
    const rows = [];
    const LIMIT = 10000;
    if (d.resultType === 'vector') {
      d.result.slice(0, LIMIT).forEach((s) => rows.push(el('tr', {}, el('td', { class: 'series' }, seriesName(s.metric)),
        el('td', { class: 'num' }, s.value ? s.value[1] : (s.histogram ? 'histogram' : '')))));
    } else if (d.resultType === 'matrix') {
      d.result.slice(0, LIMIT).forEach((s) => rows.push(el('tr', {}, el('td', { class: 'series' }, seriesName(s.metric)),
        el('td', { class: 'num' }, (s.values || []).map((v) => el('div', {}, `${v[1]} @${v[0]}`))))));
    } else {
      rows.push(el('tr', {}, el('td', { class: 'series' }, d.resultType), el('td', { class: 'num' }, d.result[1])));
    }
    const n = Array.isArray(d.result) && d.resultType !== 'scalar' && d.resultType !== 'string' ? d.result.length : 1;
    out.replaceChildren(...notices(r),
      el('div', { class: 'stats' }, `${n} result${n === 1 ? '' : 's'} · ${Math.round(performance.now() - t0)} ms` + (n > LIMIT ? ` · showing the first ${LIMIT}` : '')),
      rows.length ? el('table', { class: 'data table-result' }, el('tbody', {}, rows)) : el('div', { class: 'muted' }, 'Empty query result'));
  }

  async function runGraph(panel, out, charts, t0) {
    const end = panel.end === null ? Date.now() / 1000 : panel.end / 1000;
    const start = end - panel.range;
    const step = effectiveStep(panel);
    const r = await api('/api/v1/query_range', { query: panel.expr, start, end, step }, true);
    if (r.data.resultType !== 'matrix') throw new Error(`expected a range vector, got ${r.data.resultType}`);
    const series = r.data.result.filter((s) => s.values && s.values.length);
    const stats = el('div', { class: 'stats' }, `${series.length} series · step ${formatDuration(step)} · ${Math.round(performance.now() - t0)} ms`);
    if (!series.length) {
      out.replaceChildren(...notices(r), stats, el('div', { class: 'muted' }, 'Empty query result'));
      return;
    }
    // One x per step from the first aligned point; a series without a point
    // there has a gap (null).
    const first = Math.min(...series.map((s) => s.values[0][0]));
    const n = Math.floor((end - first) / step + 1e-9) + 1;
    const xs = Array.from({ length: n }, (_, i) => first + i * step);
    const ys = series.map((s) => {
      const a = new Array(n).fill(null);
      for (const [t, v] of s.values) {
        const i = Math.round((t - first) / step);
        const f = parseFloat(v);
        if (i >= 0 && i < n && isFinite(f)) a[i] = f;
      }
      return a;
    });
    if (panel.stacked) {
      for (let k = 1; k < ys.length; k++) {
        for (let i = 0; i < n; i++) if (ys[k][i] !== null) ys[k][i] += ys[k - 1][i] || 0;
      }
    }
    const graph = el('div', { class: 'graph' });
    out.replaceChildren(...notices(r), stats, graph);
    const width = Math.max(300, graph.clientWidth || out.clientWidth || 800);
    const opts = {
      width, height: 320,
      series: [{ label: 'time', value: (u, v) => (v == null ? '' : formatTime(v * 1000)) },
        ...series.map((s, i) => ({
          label: seriesName(s.metric), stroke: PALETTE[i % PALETTE.length], width: 1.25,
          fill: panel.stacked ? PALETTE[i % PALETTE.length] + '55' : undefined, spanGaps: false,
          points: { show: n <= 60 },
        }))],
      axes: [{}, { size: 70 }],
      legend: { live: true },
      // The whole requested range, not only where data is.
      scales: { x: { time: true, range: () => [start, end] } },
    };
    charts.push(new uPlot(opts, [xs, ...ys], graph));
  }

  // ---- explore page ----------------------------------------------------------

  function countTable(title, entries, link) {
    const max = Math.max(1, ...entries.map((e) => e.value));
    return el('div', { class: 'panel' }, el('h3', {}, title),
      entries.length ? el('table', { class: 'data' }, el('tbody', {}, entries.map((e) => el('tr', {},
        el('td', { class: 'series' }, link ? el('a', { href: link(e.name) }, e.name) : e.name),
        el('td', { class: 'num' }, el('span', { class: 'bar', style: `width:${Math.round(80 * e.value / max)}px` }), e.value.toLocaleString('en-US'))))))
        : el('div', { class: 'muted' }, 'none'));
  }

  function queryLink(expr, tab) {
    return '/query?' + new URLSearchParams({ 'g0.expr': expr, 'g0.tab': tab || 'table', 'g0.range_input': '1h' });
  }

  async function explorePage(main) {
    const selector = el('input', { size: 50, placeholder: 'series selector, e.g. up{job="node"}', spellcheck: 'false', class: 'selector' });
    const seriesOut = el('div', {});
    const labelsOut = el('div', {});
    const overview = el('div', {}, el('div', { class: 'muted' }, 'Loading…'));
    main.replaceChildren(
      el('h2', {}, 'Cardinality (/api/v1/status/tsdb)'), overview,
      el('h2', {}, 'Series'),
      el('div', { class: 'panel' },
        el('div', { class: 'exprrow' }, selector, el('button', { onclick: () => showSeries(selector.value) }, 'Find series')),
        seriesOut),
      el('h2', {}, 'Labels'), labelsOut);
    selector.addEventListener('keydown', (e) => { if (e.key === 'Enter') showSeries(selector.value); });

    async function showSeries(match) {
      if (!match.trim()) return;
      history.replaceState(null, '', '/explore?' + new URLSearchParams({ match }));
      seriesOut.replaceChildren(el('div', { class: 'muted' }, 'Loading…'));
      try {
        const LIMIT = 1000;
        const r = await api('/api/v1/series', { 'match[]': [match], limit: LIMIT, start: Date.now() / 1000 - 3600 });
        const byLabel = {};
        for (const s of r.data) for (const [k, v] of Object.entries(s)) (byLabel[k] = byLabel[k] || new Set()).add(v);
        const card = Object.entries(byLabel).map(([name, set]) => ({ name, value: set.size })).sort((a, b) => b.value - a.value);
        seriesOut.replaceChildren(...notices(r),
          el('div', { class: 'stats' }, `${r.data.length}${r.data.length >= LIMIT ? '+' : ''} series in the last hour · `,
            el('a', { href: queryLink(match, 'graph') }, 'graph'), ' · ', el('a', { href: queryLink(`count(${match})`) }, 'count')),
          el('div', { class: 'grid' },
            countTable('Distinct values per label', card),
            el('div', { class: 'panel' }, el('h3', {}, 'Series'), el('table', { class: 'data' }, el('tbody', {},
              r.data.slice(0, 200).map((s) => el('tr', {}, el('td', { class: 'series' }, el('a', { href: queryLink(seriesName(s)) }, seriesName(s))))))))));
      } catch (e) {
        seriesOut.replaceChildren(errorBox('Error: ', e));
      }
    }

    async function showLabels() {
      try {
        const r = await api('/api/v1/labels');
        const values = el('div', {});
        labelsOut.replaceChildren(el('div', { class: 'panel' },
          el('div', { class: 'stats' }, `${r.data.length} label names; pick one for its values`),
          el('div', {}, r.data.map((name) => [el('a', { href: '#', onclick: (e) => { e.preventDefault(); showValues(name, values); } }, name), ' '])),
          values));
      } catch (e) {
        labelsOut.replaceChildren(errorBox('Error: ', e));
      }
    }

    async function showValues(name, out) {
      try {
        const r = await api(`/api/v1/label/${encodeURIComponent(name)}/values`, { limit: 1000 });
        out.replaceChildren(el('h3', {}, `${name}: ${r.data.length}${r.data.length >= 1000 ? '+' : ''} values`),
          el('div', {}, r.data.map((v) => [el('a', { href: '/explore?' + new URLSearchParams({ match: `{${name}=${JSON.stringify(v)}}` }) }, v), ' '])));
      } catch (e) {
        out.replaceChildren(errorBox('Error: ', e));
      }
    }

    try {
      const r = await api('/api/v1/status/tsdb', { limit: 20 });
      const d = r.data, h = d.headStats || {};
      const fmt = (ms) => (ms > 0 && ms < 8.64e15 ? new Date(ms).toISOString() : '–');
      overview.replaceChildren(
        el('div', { class: 'panel' }, el('table', { class: 'data kv' }, el('tbody', {},
          el('tr', {}, el('td', {}, 'series'), el('td', { class: 'num head-series' }, (h.numSeries || 0).toLocaleString('en-US'))),
          el('tr', {}, el('td', {}, 'label pairs'), el('td', { class: 'num' }, (h.numLabelPairs || 0).toLocaleString('en-US'))),
          el('tr', {}, el('td', {}, 'oldest sample'), el('td', { class: 'num' }, fmt(h.minTime))),
          el('tr', {}, el('td', {}, 'newest sample'), el('td', { class: 'num' }, fmt(h.maxTime)))))),
        el('div', { class: 'grid' },
          countTable('Series per metric name', d.seriesCountByMetricName || [], (n) => '/explore?' + new URLSearchParams({ match: n })),
          countTable('Values per label name', d.labelValueCountByLabelName || []),
          countTable('Memory per label name (bytes)', d.memoryInBytesByLabelName || []),
          countTable('Series per label pair', d.seriesCountByLabelValuePair || [], (n) => {
            const i = n.indexOf('=');
            return '/explore?' + new URLSearchParams({ match: `{${n.slice(0, i)}=${JSON.stringify(n.slice(i + 1))}}` });
          })));
    } catch (e) {
      overview.replaceChildren(errorBox('Error: ', e));
    }
    showLabels();
    const m = new URLSearchParams(location.search).get('match');
    if (m) { selector.value = m; showSeries(m); }
  }

  // ---- status page -----------------------------------------------------------

  function kvTable(obj) {
    return el('table', { class: 'data kv' }, el('tbody', {},
      Object.entries(obj).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', { class: 'series' }, typeof v === 'object' ? JSON.stringify(v) : String(v))))));
  }

  // Text exposition lines of /metrics: [{name, labels, value}].
  function parseMetrics(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      (m[3] || '').replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g, (_, k, v) => { labels[k] = v; });
      out.push({ name: m[1], labels, value: m[4] });
    }
    return out;
  }

  function humanBytes(v) {
    const x = parseFloat(v);
    if (!isFinite(x)) return v;
    for (const [u, f] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]]) if (x >= f) return `${(x / f).toFixed(1)} ${u} (${x})`;
    return String(x);
  }

  async function statusPage(main) {
    const section = (title, id) => [el('h2', {}, title), el('div', { class: 'panel', id }, el('div', { class: 'muted' }, 'Loading…'))];
    main.replaceChildren(
      el('div', { class: 'grid' },
        el('div', {}, section('Build', 'status-build'), section('Runtime', 'status-runtime')),
        el('div', {}, section('Tenants', 'status-tenants'), section('Storage', 'status-storage'))),
      ...section('Compactor', 'status-compactor'),
      ...section('Rules', 'status-rules'),
      ...section('Remotes', 'status-remotes'),
      ...section('Flags', 'status-flags'));
    const fill = async (id, f) => {
      const box = document.getElementById(id);
      try {
        box.replaceChildren(await f());
      } catch (e) {
        box.replaceChildren(errorBox('', e));
      }
    };
    fill('status-build', async () => kvTable((await api('/api/v1/status/buildinfo')).data));
    fill('status-runtime', async () => kvTable((await api('/api/v1/status/runtimeinfo')).data));
    fill('status-flags', async () => kvTable((await api('/api/v1/status/flags')).data));
    fill('status-rules', async () => {
      const groups = (await api('/api/v1/rules')).data.groups || [];
      if (!groups.length) return el('div', { class: 'muted' }, 'No rule groups.');
      return el('table', { class: 'data' }, el('tbody', {}, groups.map((g) => el('tr', {},
        el('td', {}, g.name), el('td', {}, g.file || ''), el('td', { class: 'num' }, `${(g.rules || []).length} rules`)))));
    });
    fill('status-remotes', async () => {
      const resp = await fetch('/api/v1/status/remotes', { headers: headers() });
      if (resp.status === 404) return el('div', { class: 'muted' }, 'No remotes (this meridian reads only its own storage).');
      const j = await resp.json();
      if (j.status !== 'success') throw new Error(j.error);
      const list = Array.isArray(j.data) ? j.data : (j.data.remotes || []);
      return el('table', { class: 'data' }, el('tbody', {}, list.map((r) => el('tr', {},
        el('td', {}, r.name), el('td', {}, r.url), el('td', {}, r.up ? 'up' : 'down'),
        el('td', {}, r.watermark ? `data until ${new Date(r.watermark * 1000).toISOString()}` : ''),
        el('td', {}, r.lastError || '')))));
    });
    const metricsText = fetch('/metrics').then((r) => (r.ok ? r.text() : Promise.reject(new Error(`/metrics: HTTP ${r.status}`))));
    // The compactor knows every tenant in storage (absent: 404, null).
    const compactor = fetch('/api/v1/status/compactor', { headers: headers() }).then(async (r) => {
      if (r.status === 404) return null;
      const j = await r.json();
      if (j.status !== 'success') throw new Error(j.error);
      return j.data;
    });
    fill('status-tenants', async () => {
      const samples = parseMetrics(await metricsText);
      const tenants = {};
      const c = await compactor.catch(() => null);
      for (const t of (c && c.tenants) || []) tenants[t.tenant] = tenants[t.tenant] || {};
      for (const s of samples) {
        if (s.labels.tenant === undefined) continue;
        const t = (tenants[s.labels.tenant] = tenants[s.labels.tenant] || {});
        const key = s.name + Object.entries(s.labels).filter(([k]) => k !== 'tenant').map(([k, v]) => `{${k}="${v}"}`).join('');
        t[key] = s.value;
      }
      const names = Object.keys(tenants).sort();
      const def = (await api('/api/v1/status/flags')).data['default-tenant'] || '';
      if (!names.length) return el('div', { class: 'muted' }, 'No tenant holds data yet; the default tenant is ', el('code', {}, def), '.');
      return el('table', { class: 'data' }, el('tbody', {}, names.map((n) => el('tr', {},
        el('td', { class: 'series' }, n, n === def ? el('span', { class: 'muted' }, ' (default)') : null),
        el('td', { class: 'series' }, Object.entries(tenants[n]).map(([k, v]) => el('div', {}, `${k} ${v}`)))))));
    });
    fill('status-compactor', async () => {
      const c = await compactor;
      if (c === null) return el('div', { class: 'muted' }, 'No compactor in this meridian.');
      const last = c.lastPass || {};
      const parts = [kvTable({
        running: c.running, passes: c.passes, 'last success': c.lastSuccess || 'never',
        'downsample to 5m after': c.config.downsample5mAfter, 'downsample to 1h after': c.config.downsample1hAfter,
        'last pass': c.lastPass ? `${last.started}, ${last.seconds} s, ${last.blocks5m} 5m and ${last.blocks1h} 1h blocks, ${last.failures} failures` : 'none yet',
      })];
      if (c.tenants.length) {
        const cols = ['tenant', 'downsampled5mThrough', 'downsampled1hThrough', 'lag5mSeconds', 'lag1hSeconds', 'retention'];
        parts.push(el('h3', {}, 'Per tenant'), el('table', { class: 'data' },
          el('thead', {}, el('tr', {}, cols.map((k) => el('th', {}, k)))),
          el('tbody', {}, c.tenants.map((t) => el('tr', {}, cols.map((k) => el('td', { class: 'series' },
            t[k] === null || t[k] === undefined ? '–' : typeof t[k] === 'object' ? Object.entries(t[k]).map(([a, b]) => `${a} ${b}`).join(', ') : String(t[k]))))))));
      }
      if (c.failures.length) {
        parts.push(el('h3', {}, 'Recent failures'), el('table', { class: 'data' }, el('tbody', {},
          c.failures.map((f) => el('tr', {}, el('td', {}, f.time), el('td', {}, f.tenant), el('td', {}, f.unit), el('td', {}, f.error))))));
      }
      return el('div', {}, parts);
    });
    fill('status-storage', async () => {
      const samples = parseMetrics(await metricsText).filter((s) =>
        /^meridian_(storage|disk|wal|checkpoint|rocksdb|head|series|retention|snapshot|compact)/.test(s.name) && s.labels.tenant === undefined);
      const rt = (await api('/api/v1/status/runtimeinfo')).data;
      const rows = [['series', rt.numSeries], ['retention', rt.storageRetention], ['corruptions met', rt.corruptionCount]]
        .concat(samples.map((s) => [s.name + (Object.keys(s.labels).length ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',')}}` : ''),
          /bytes/.test(s.name) ? humanBytes(s.value) : s.value]));
      return el('table', { class: 'data' }, el('tbody', {}, rows.map(([k, v]) => el('tr', {}, el('td', { class: 'series' }, k), el('td', { class: 'num' }, String(v))))));
    });
  }

  // ---- routing ---------------------------------------------------------------

  function route() {
    const path = location.pathname.replace(/\/+$/, '') || '/';
    const main = document.getElementById('main');
    let page = 'query';
    if (path === '/explore') page = 'explore';
    else if (path === '/status') page = 'status';
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
    document.title = `meridian · ${page}`;
    if (page === 'explore') explorePage(main);
    else if (page === 'status') statusPage(main);
    else queryPage(main);
  }

  window.meridianUI = { parseDuration, formatDuration, panelsFromURL, panelsToURL, effectiveStep };
  route();
})();

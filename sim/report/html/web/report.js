// The moesim HTML report's page: reads the data moesim inlined (<script id="moesim-data">:
// {kind, title, data}, data being the command's --json document) and draws it with Chart.js.
// When done it publishes what it drew in window.__moesimReport and <body data-moesim-report>:
// {kind, charts, drawn, elements, errors}; a chart counts as drawn when every dataset with data
// has an element per data point and its canvas has painted pixels. tests/browser reads it.
(function () {
  'use strict';

  var COLORS = {
    compute: '#4e79a7',
    overlapped: '#59a14f',
    exposed: '#e15759',
    idle: '#bab0ac',
    predicted: '#4e79a7',
    measured: '#f28e2b',
    band: 'rgba(78, 121, 167, 0.22)',
    published: '#1f2328',
    in_band: '#1a7f37',
    known_gap: '#bf8700',
    out_of_band: '#cf222e',
    other: '#8c959f',
  };
  // Strategies and timeline categories cycle through this palette (Tableau 10).
  var PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
    '#ff9da7', '#9c755f', '#bab0ac'];
  // Communication groups on a timeline: none of the breakdown's red (exposed) or green (hidden).
  // Fixed per group (sim/workload CommGroup names), so a group has one colour on every timeline.
  var COMM_COLORS = {
    'comm tp': '#76b7b2', 'comm ep': '#edc948', 'comm esp': '#b07aa1', 'comm dp': '#ff9da7',
    'comm expert_dp': '#9c755f', 'comm pp': '#f28e2b', 'comm world': '#17becf', 'comm other': '#bcbd22',
  };

  var page = JSON.parse(document.getElementById('moesim-data').textContent);
  var root = document.getElementById('report');
  var charts = [];

  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  Chart.defaults.color = '#1f2328';

  // ---- small DOM helpers --------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'class') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function add(node) { root.appendChild(node); return node; }
  function heading(text, note) {
    add(el('h2', { text: text }));
    if (note) add(el('p', { class: 'note', text: note }));
  }
  function facts(pairs) {
    var ul = el('ul', { class: 'facts' });
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === '') return;
      ul.appendChild(el('li', {}, [p[0] + ' ', el('b', { text: String(p[1]) })]));
    });
    return add(ul);
  }
  // rows: arrays of cells; a cell is text, a number (right-aligned) or {text, class}.
  function table(headers, rows, parent) {
    var t = el('table');
    var head = el('tr');
    headers.forEach(function (h) {
      head.appendChild(el('th', { text: h.text || h, class: h.num ? 'num' : '' }));
    });
    t.appendChild(el('thead', {}, [head]));
    var body = el('tbody');
    rows.forEach(function (r) {
      var tr = el('tr');
      r.forEach(function (cell, i) {
        var num = headers[i] && headers[i].num;
        if (cell !== null && typeof cell === 'object') {
          tr.appendChild(el('td', { text: cell.text, class: (cell.class || '') + (num ? ' num' : '') }));
        } else {
          tr.appendChild(el('td', { text: cell === null || cell === undefined ? '' : String(cell), class: num ? 'num' : '' }));
        }
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    (parent || root).appendChild(t);
    return t;
  }

  function ms(us) { return us / 1000; }
  function fixed(x, digits) { return x === null || x === undefined ? '' : Number(x).toFixed(digits); }
  function percent(x) { return x === null || x === undefined ? 'n/a' : (x >= 0 ? '+' : '') + (100 * x).toFixed(1) + '%'; }
  function color(i) { return PALETTE[i % PALETTE.length]; }

  // A canvas in a box of fixed height, and its chart registered for the drawing check.
  function chart(name, heightPx, config, parent) {
    var box = el('div', { class: 'chart', style: 'height:' + heightPx + 'px' });
    var canvas = el('canvas', { 'aria-label': name, role: 'img' });
    box.appendChild(canvas);
    (parent || root).appendChild(box);
    var c = new Chart(canvas, config);
    charts.push({ name: name, chart: c });
    return c;
  }

  function axisTitle(text) { return { display: true, text: text }; }
  // Log-axis labels only at 1, 1.5, 2, 3 and 5 times a power of ten (Chart.js also labels the
  // axis ends, which can collide with them).
  function logTick(value) {
    var m = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
    return [1, 1.5, 2, 3, 5].some(function (x) { return Math.abs(m - x) < 1e-6; }) ? String(Number(value.toPrecision(3))) : '';
  }

  // ---- where the time goes (compare, validate) --------------------------------------------

  var BREAKDOWN = [
    ['compute_only_us', 'compute alone', COLORS.compute],
    ['overlapped_comm_us', 'communication overlapped with compute', COLORS.overlapped],
    ['exposed_comm_us', 'exposed communication', COLORS.exposed],
    ['idle_us', 'idle (waiting, host delays)', COLORS.idle],
  ];

  function breakdownChart(name, labels, breakdowns) {
    return chart(name, 70 + 44 * labels.length, {
      type: 'bar',
      data: {
        labels: labels,
        datasets: BREAKDOWN.map(function (b) {
          return {
            label: b[1],
            backgroundColor: b[2],
            data: breakdowns.map(function (t) { return ms(t[b[0]]); }),
          };
        }),
      },
      options: {
        indexAxis: 'y',
        scales: {
          x: { stacked: true, beginAtZero: true, title: axisTitle('ms (mean over ranks, last iteration)') },
          y: { stacked: true },
        },
        plugins: {
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + ctx.parsed.x.toFixed(3) + ' ms'; } } },
        },
      },
    });
  }

  // ---- compare -------------------------------------------------------------------------------

  // The planner's main choices, as `moesim compare` prints them: the common "moe.*" facts, cost
  // fits, estimates and per-layer entries stay in the full list.
  function headline(key) {
    if (key.indexOf('moe.') === 0 || key.indexOf('estimate') >= 0 || key.indexOf('.fit') >= 0 ||
        key.indexOf('.per_layer') >= 0) return false;
    var last = key.substring(key.lastIndexOf('.') + 1);
    return !/^L\d/.test(last) && !/^moe\d/.test(last);
  }
  function decisionValue(d) {
    var v = d.value;
    var text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return d.unit ? text + ' ' + d.unit : text;
  }

  function timelineChart(s, index) {
    var t = s.timeline;
    var rows = t.rows.map(function (r) { return 'rank ' + r.rank + ' · ' + r.stream; });
    var datasets = t.categories.map(function (c, i) {
      return {
        label: c,
        backgroundColor: c === 'compute' ? COLORS.compute : c === 'delay' ? COLORS.idle
          : COMM_COLORS[c] || COLORS.other,
        borderWidth: 0,
        data: [],
        names: [],
      };
    });
    t.spans.forEach(function (sp) {
      var d = datasets[sp[3]];
      d.data.push({ x: [ms(sp[1]), ms(sp[2])], y: rows[sp[0]] });
      d.names.push(t.names[sp[4]]);
    });
    var end = 0;
    t.spans.forEach(function (sp) { end = Math.max(end, sp[2]); });
    return chart('timeline ' + s.strategy, 90 + 26 * rows.length, {
      type: 'bar',
      data: { labels: rows, datasets: datasets.filter(function (d) { return d.data.length > 0; }) },
      options: {
        indexAxis: 'y',
        grouped: false,
        barPercentage: 0.8,
        categoryPercentage: 1.0,
        minBarLength: 1,
        scales: {
          x: { type: 'linear', min: 0, max: ms(end), title: axisTitle('ms from the start of the last iteration') },
          y: { stacked: false },
        },
        plugins: {
          legend: { position: 'top' },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var r = ctx.raw.x;
                return ctx.dataset.names[ctx.dataIndex] + ': ' + r[0].toFixed(3) + ' to ' + r[1].toFixed(3) +
                  ' ms (' + (r[1] - r[0]).toFixed(3) + ' ms)';
              },
            },
          },
        },
      },
    });
  }

  function renderCompare(d) {
    var job = d.job;
    facts([['model', job.model], ['cluster', job.topology + ', ' + job.gpus + ' x ' + job.gpu],
      ['layout', job.layout], ['routing', job.routing], ['network model', job.network_model],
      ['iterations', job.iterations]]);
    var s = d.strategies;
    heading('Where the time goes',
      'Mean over ranks of the last iteration. The four parts add up to the iteration time: kernels ' +
      'running alone, communication hidden under kernels, communication with no kernel running ' +
      '(exposed), and neither.');
    breakdownChart('time breakdown', s.map(function (x) { return x.strategy; }),
      s.map(function (x) { return x.time_breakdown; }));
    table([{ text: 'strategy' }, { text: 'iteration ms', num: true }, { text: 'speedup', num: true },
      { text: 'exposed comm ms', num: true }, { text: 'tokens/s', num: true }, { text: 'MFU %', num: true },
      { text: 'planner decisions' }],
    s.map(function (x) {
      var shown = Object.keys(x.decisions).filter(headline).map(function (k) {
        return k + '=' + decisionValue(x.decisions[k]);
      });
      return [x.strategy, fixed(ms(x.mean_iteration_us), 3), fixed(x.speedup, 2) + 'x',
        fixed(ms(x.exposed_comm_us), 3), x.tokens_per_s !== undefined ? Math.round(x.tokens_per_s) : '',
        x.mfu !== undefined ? fixed(100 * x.mfu, 1) : '', { text: shown.join('; ') || '-', class: 'wrap' }];
    }));
    add(el('p', { class: 'note', text: 'Speedup is over ' + d.baseline + ' (the first strategy listed).' }));

    var groups = [];
    s.forEach(function (x) {
      Object.keys(x.comm_groups || {}).forEach(function (g) { if (groups.indexOf(g) < 0) groups.push(g); });
    });
    if (groups.length > 0) {
      heading('Communication by group',
        'Per parallel group, mean over ranks of the last iteration: exposed (solid) and overlapped with ' +
        'compute (light). Groups that communicate at the same time are each counted in full, so a bar ' +
        'can be longer than the iteration\'s communication.');
      var sets = [];
      groups.forEach(function (g) {
        var c = COMM_COLORS['comm ' + g] || COLORS.other;
        [['exposed_us', 'exposed', c], ['overlapped_us', 'overlapped', c + '66']].forEach(function (part) {
          sets.push({
            label: g + ' ' + part[1],
            backgroundColor: part[2],
            borderColor: c,
            borderWidth: part[1] === 'overlapped' ? 1 : 0,
            data: s.map(function (x) { var t = (x.comm_groups || {})[g]; return t ? ms(t[part[0]]) : 0; }),
          });
        });
      });
      chart('communication by group', 90 + 34 * s.length, {
        type: 'bar',
        data: { labels: s.map(function (x) { return x.strategy; }), datasets: sets },
        options: {
          indexAxis: 'y',
          scales: { x: { stacked: true, beginAtZero: true, title: axisTitle('ms (mean over ranks, last iteration)') }, y: { stacked: true } },
          plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + ctx.parsed.x.toFixed(3) + ' ms'; } } } },
        },
      });
    }

    heading('Planner decisions', 'Everything each strategy decided for this job, with the reason it gives.');
    s.forEach(function (x) {
      var keys = Object.keys(x.decisions);
      var box = add(el('details', {}, [el('summary', { text: x.strategy + ' (' + keys.length + ' decisions)' })]));
      if (keys.length === 0) { box.appendChild(el('p', { class: 'note', text: 'no decisions: a fixed schedule' })); return; }
      table(['decision', 'value', 'why'], keys.map(function (k) {
        var e = x.decisions[k];
        return [k, { text: decisionValue(e), class: 'wrap' }, { text: e.detail || '', class: 'wrap' }];
      }), box);
    });

    var withTimeline = s.filter(function (x) { return x.timeline && x.timeline.spans.length > 0; });
    if (withTimeline.length > 0) {
      heading('Timeline of the last iteration',
        'Every task of rank 0 and of the rank that finishes last, stream by stream (the whole graph is ' +
        'in `--trace`, for Perfetto).');
      withTimeline.forEach(function (x, i) {
        add(el('h3', { text: x.strategy + ' (ranks ' + x.timeline.ranks.join(', ') + ')' }));
        timelineChart(x, i);
      });
    }
  }

  // ---- sweep ---------------------------------------------------------------------------------

  function quantile(sorted, q) {
    var pos = (sorted.length - 1) * q;
    var lo = Math.floor(pos);
    var hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  function renderSweep(d) {
    var counts = { ok: 0, invalid: 0, failed: 0 };
    d.cases.forEach(function (c) { counts[c.status] = (counts[c.status] || 0) + 1; });
    facts([['grid', d.grid], ['configurations', d.configurations], ['strategies', d.strategies.join(', ')],
      ['cases', d.cases.length], ['simulated', counts.ok], ['invalid', counts.invalid], ['failed', counts.failed]]);
    var base = d.strategies[0];
    var speedups = {};
    d.strategies.forEach(function (s) { speedups[s] = []; });
    d.cases.forEach(function (c) {
      if (c.speedup !== null && speedups[c.strategy]) speedups[c.strategy].push(c.speedup);
    });
    heading('Speedup over ' + base,
      'Distribution over the configurations of each strategy\'s speedup over ' + base +
      ' (iteration time of ' + base + ' / its own): the fraction of configurations at or below each speedup.');
    var datasets = d.strategies.map(function (s, i) {
      var v = speedups[s].slice().sort(function (a, b) { return a - b; });
      var n = v.length;
      return {
        label: s + (s === base ? ' (baseline)' : ''),
        borderColor: color(i),
        backgroundColor: color(i),
        borderDash: s === base ? [6, 4] : [],
        showLine: true,
        stepped: 'after',
        pointRadius: n > 60 ? 0 : 2,
        // The empirical CDF as steps, from 0 at the smallest speedup.
        data: n === 0 ? [] : [{ x: v[0], y: 0 }].concat(v.map(function (x, k) { return { x: x, y: (k + 1) / n }; })),
      };
    }).filter(function (ds) { return ds.data.length > 0; });
    chart('speedup distribution', 360, {
      type: 'scatter',
      data: { datasets: datasets },
      options: {
        scales: {
          x: { title: axisTitle('speedup over ' + base) },
          y: { min: 0, max: 1, title: axisTitle('fraction of configurations') },
        },
      },
    });
    table([{ text: 'strategy' }, { text: 'cases', num: true }, { text: 'mean', num: true },
      { text: 'min', num: true }, { text: 'median', num: true }, { text: 'max', num: true },
      { text: 'faster than ' + base, num: true }],
    d.strategies.map(function (s) {
      var v = speedups[s].slice().sort(function (a, b) { return a - b; });
      if (v.length === 0) return [s, 0, '', '', '', '', ''];
      var mean = v.reduce(function (a, b) { return a + b; }, 0) / v.length;
      var faster = v.filter(function (x) { return x > 1; }).length;
      return [s, v.length, fixed(mean, 3) + 'x', fixed(v[0], 3) + 'x', fixed(quantile(v, 0.5), 3) + 'x',
        fixed(v[v.length - 1], 3) + 'x', faster + ' (' + Math.round(100 * faster / v.length) + '%)'];
    }));

    var g = d.regressions;
    if (!g) {
      heading('Regressions', 'No baseline: run the sweep with --baseline OLD.csv to list the cases that got slower.');
    } else {
      heading('Regressions against ' + g.baseline,
        g.compared + ' cases compared at a tolerance of ' + (100 * g.tolerance).toFixed(2) + '%: ' +
        g.slower.length + ' slower, ' + g.faster + ' faster, ' + g.not_in_baseline + ' new, ' +
        g.missing_now + ' missing now.');
      if (g.slower.length > 0) {
        var worst = g.slower.slice(0, 40);
        chart('regressions', 70 + 22 * worst.length, {
          type: 'bar',
          data: {
            labels: worst.map(function (r) { return r.config_id + ' [' + r.strategy + ']'; }),
            datasets: [{
              label: 'slowdown over the baseline, %',
              backgroundColor: COLORS.out_of_band,
              data: worst.map(function (r) { return 100 * (r.current_us / r.baseline_us - 1); }),
            }],
          },
          options: { indexAxis: 'y', scales: { x: { beginAtZero: true, title: axisTitle('% slower than the baseline') } } },
        });
        var listed = g.slower.slice(0, 500);
        if (listed.length < g.slower.length) {
          add(el('p', { class: 'note', text: 'The worst ' + listed.length + ' of ' + g.slower.length + ' (all of them are in --json).' }));
        }
        table(['case', 'strategy', { text: 'baseline ms', num: true }, { text: 'now ms', num: true },
          { text: 'change', num: true }], listed.map(function (r) {
          return [r.config_id, r.strategy, fixed(ms(r.baseline_us), 3), fixed(ms(r.current_us), 3),
            { text: percent(r.current_us / r.baseline_us - 1), class: 'out-of-band' }];
        }));
      } else {
        add(el('p', { class: 'in-band', text: 'No case got slower.' }));
      }
    }
    var broken = d.cases.filter(function (c) { return c.status !== 'ok'; });
    if (broken.length > 0) {
      var box = add(el('details', {}, [el('summary', { text: broken.length + ' cases not simulated (invalid or failed)' })]));
      table(['case', 'strategy', 'status', 'why'], broken.map(function (c) {
        return [c.config_id, c.strategy, c.status, { text: c.error || '', class: 'wrap' }];
      }), box);
    }
  }

  // ---- reproduce -----------------------------------------------------------------------------

  var VERDICT_CLASS = { 'in band': 'in-band', 'known gap': 'known-gap', 'OUT OF BAND': 'out-of-band' };
  function verdictColor(v) {
    if (v === 'in band') return COLORS.in_band;
    if (v === 'known gap' || v === 'not runnable (known gap)') return COLORS.known_gap;
    if (v === 'OUT OF BAND') return COLORS.out_of_band;
    return COLORS.other;
  }

  function renderReproduce(d) {
    var counts = {};
    d.results.forEach(function (r) { counts[r.verdict] = (counts[r.verdict] || 0) + 1; });
    facts([['results', d.results.length], ['claims', new Set(d.results.map(function (r) { return r.claim; })).size],
      ['subset', d.quick ? '--quick (grids sampled)' : 'full']].concat(Object.keys(counts).sort().map(function (k) {
      return [k, counts[k]];
    })));
    // Every number on one axis: divided by its published value, so published = 1 and the band
    // and the simulated value read as ratios. Numbers whose published value is not positive
    // cannot be scaled and are in the table only.
    var shown = d.results.filter(function (r) { return r.published_value > 0; });
    heading('Published vs simulated',
      'Each number divided by its published value (published = 1): the shaded bar is the result\'s ' +
      'two-sided band, the dot the simulated value, coloured by verdict (green in band, amber known ' +
      'gap, red out of band). Log scale; a triangle at the left edge is a simulated value of zero.');
    var labels = shown.map(function (r) { return r.claim + ' / ' + r.result; });
    var ratios = [];
    shown.forEach(function (r) {
      ratios.push(r.band[0] / r.published_value, r.band[1] / r.published_value);
      if (r.simulated !== null && r.simulated > 0) ratios.push(r.simulated / r.published_value);
    });
    var positive = ratios.filter(function (x) { return x > 0; });
    var lo = Math.min.apply(null, positive.concat([0.8]));
    var hi = Math.max.apply(null, positive.concat([1.25]));
    function clampRatio(x) { return Math.max(lo, Math.min(hi, x)); }
    // A simulated value of zero or below has no place on a log axis: drawn at the left edge as
    // a triangle pointing off the axis (its value is in the table).
    var simulated = shown.filter(function (r) { return r.simulated !== null; });
    function onAxis(r) { return r.simulated > 0; }
    chart('published vs simulated', 90 + 24 * labels.length, {
      type: 'bar',
      data: {
        labels: labels,
        datasets: [
          {
            type: 'line',
            label: 'simulated / published',
            showLine: false,
            pointRadius: 5,
            pointHoverRadius: 7,
            pointStyle: simulated.map(function (r) { return onAxis(r) ? 'circle' : 'triangle'; }),
            pointRotation: simulated.map(function (r) { return onAxis(r) ? 0 : -90; }),
            pointBackgroundColor: simulated.map(function (r) { return verdictColor(r.verdict); }),
            pointBorderColor: simulated.map(function (r) { return verdictColor(r.verdict); }),
            backgroundColor: COLORS.in_band,
            borderColor: COLORS.in_band,
            data: simulated.map(function (r) {
              return { x: onAxis(r) ? r.simulated / r.published_value : lo, y: r.claim + ' / ' + r.result };
            }),
            results: simulated,
            order: 0,
          },
          {
            type: 'line',
            label: 'published',
            showLine: false,
            pointStyle: 'line',
            pointRadius: 8,
            pointBorderWidth: 2,
            borderColor: COLORS.published,
            backgroundColor: COLORS.published,
            data: labels.map(function (l) { return { x: 1, y: l }; }),
            order: 1,
          },
          {
            label: 'band',
            backgroundColor: COLORS.band,
            borderWidth: 0,
            data: shown.map(function (r) {
              return { x: [clampRatio(r.band[0] / r.published_value), clampRatio(r.band[1] / r.published_value)], y: r.claim + ' / ' + r.result };
            }),
            results: shown,
            order: 2,
          },
        ],
      },
      options: {
        indexAxis: 'y',
        barPercentage: 0.7,
        scales: {
          x: { type: 'logarithmic', min: lo * 0.95, max: hi * 1.05, title: axisTitle('value / published value (log)'),
            ticks: { autoSkip: false, callback: logTick } },
          y: { ticks: { autoSkip: false, font: { size: 11 } } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var r = ctx.dataset.results ? ctx.dataset.results[ctx.dataIndex] : null;
                if (!r) return 'published ' + shown[ctx.dataIndex].published;
                return ctx.dataset.label === 'band'
                  ? 'band [' + r.band[0].toPrecision(4) + ', ' + r.band[1].toPrecision(4) + '], published ' + r.published
                  : 'simulated ' + r.simulated.toPrecision(4) + ' (' + percent(r.error) + ', ' + r.verdict + ')';
              },
            },
          },
        },
      },
    });
    table(['claim', 'result', { text: 'published', num: true }, { text: 'band', num: true },
      { text: 'simulated', num: true }, { text: 'error', num: true }, 'verdict'],
    d.results.map(function (r) {
      var verdict = r.verdict + (r.gating ? '' : ' (not gating)');
      return [r.claim, { text: r.result, class: 'wrap' }, r.published,
        '[' + r.band[0].toPrecision(4) + ', ' + r.band[1].toPrecision(4) + ']',
        r.simulated === null ? '-' : r.simulated.toPrecision(4), r.error === null ? '-' : percent(r.error),
        { text: verdict, class: VERDICT_CLASS[r.verdict] || 'muted' }];
    }));
    // The known gaps of the results in this run (the file lists every claim's).
    var ran = new Set(d.results.map(function (r) { return r.claim + '/' + r.result; }));
    var gaps = (d.known_gaps || []).filter(function (g) { return ran.has(g.result); });
    if (gaps.length > 0) {
      heading('Known gaps', 'Results of this run outside their band, recorded with their measured error, the reason and what would close them.');
      table(['result', { text: 'measured error', num: true }, 'why', 'would close it'], gaps.map(function (g) {
        return [{ text: g.result, class: 'wrap' }, g.measured_error === null ? 'not runnable' : percent(g.measured_error),
          { text: g.reason, class: 'wrap' }, { text: g.would_close, class: 'wrap' }];
      }));
    }
  }

  // ---- validate ------------------------------------------------------------------------------

  function predictedMeasured(name, rows) {
    return chart(name, 80 + 34 * rows.length, {
      type: 'bar',
      data: {
        labels: rows.map(function (r) { return r.key + '  (' + percent(r.error) + ')'; }),
        datasets: [
          { label: 'predicted', backgroundColor: COLORS.predicted, data: rows.map(function (r) { return ms(r.predicted_us); }) },
          { label: 'measured', backgroundColor: COLORS.measured, data: rows.map(function (r) { return ms(r.measured_us); }) },
        ],
      },
      options: {
        indexAxis: 'y',
        scales: { x: { beginAtZero: true, title: axisTitle('ms, summed over ranks') } },
        plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + ctx.parsed.x.toFixed(3) + ' ms'; } } } },
      },
    });
  }

  function renderValidate(d) {
    facts([['predicted', d.predicted.description], ['measured', d.measured.description]]);
    heading('Where the time goes', 'Predicted and measured iteration, mean over ranks; the four parts add up to the iteration time.');
    breakdownChart('time breakdown', ['predicted', 'measured'], [d.predicted.time_breakdown, d.measured.time_breakdown]);
    heading('End to end', 'error = (predicted - measured) / measured');
    var endRows = [d.iteration, d.exposed_comm];
    table(['', { text: 'predicted ms', num: true }, { text: 'measured ms', num: true }, { text: 'error', num: true }],
      endRows.map(function (r) { return [r.key, fixed(ms(r.predicted_us), 3), fixed(ms(r.measured_us), 3), percent(r.error)]; }));
    heading('Per task kind', 'Time summed over ranks; a kind marked * ran as a stand-in kernel of its size on the GPU.');
    predictedMeasured('per kind', d.per_kind);
    table(['kind', { text: 'tasks', num: true }, { text: 'predicted ms', num: true }, { text: 'measured ms', num: true },
      { text: 'error', num: true }], d.per_kind.map(function (r) {
      return [r.key, r.tasks, fixed(ms(r.predicted_us), 3), fixed(ms(r.measured_us), 3), percent(r.error)];
    }));
    if (d.per_stream.length > 0) {
      heading('Per stream', 'Busy time summed over ranks.');
      predictedMeasured('per stream', d.per_stream);
    }
  }

  // ---- the drawing check ---------------------------------------------------------------------

  function painted(canvas) {
    var ctx = canvas.getContext('2d');
    var w = canvas.width;
    var h = canvas.height;
    if (w === 0 || h === 0) return false;
    var pixels = ctx.getImageData(0, 0, w, h).data;
    for (var i = 3; i < pixels.length; i += 4) {
      if (pixels[i] !== 0) return true;
    }
    return false;
  }

  function status() {
    var drawn = 0;
    var elements = 0;
    var problems = [];
    charts.forEach(function (entry) {
      var c = entry.chart;
      var ok = c.data.datasets.length > 0;
      c.data.datasets.forEach(function (ds, i) {
        var meta = c.getDatasetMeta(i);
        var n = ds.data.length;
        elements += meta.data.length;
        if (n === 0 || meta.data.length !== n) ok = false;
        meta.data.forEach(function (e) {
          if (!isFinite(e.x) || !isFinite(e.y)) ok = false;
        });
      });
      if (!painted(c.canvas)) ok = false;
      if (ok) drawn += 1;
      else problems.push(entry.name);
    });
    return {
      kind: page.kind,
      charts: charts.length,
      drawn: drawn,
      elements: elements,
      not_drawn: problems,
      errors: window.__moesimErrors || [],
      height: document.documentElement.scrollHeight,
    };
  }

  function publish(s) {
    window.__moesimReport = s;
    document.body.setAttribute('data-moesim-report', JSON.stringify(s));
  }

  var RENDER = { compare: renderCompare, sweep: renderSweep, reproduce: renderReproduce, validate: renderValidate };
  document.title = page.title;
  add(el('h1', { text: page.title }));
  try {
    RENDER[page.kind](page.data);
    add(el('footer', { text: 'Written by moesim. Charts drawn with Chart.js (MIT licence), embedded in this file.' }));
    publish(status());
  } catch (e) {
    (window.__moesimErrors || []).push('error: ' + (e && e.stack ? e.stack : e));
    publish(status());
    throw e;
  }
})();

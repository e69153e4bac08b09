/* The history page's charts (uPlot), drawn from the JSON the page carries in
   #history-data. Times are shown in Japan time whatever the browser's zone is. */
(function () {
  "use strict";
  const source = document.getElementById("history-data");
  if (!source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  const JST_OFFSET = 9 * 3600;
  // One colour per flow, defined once in the stylesheet (--flow-*), as on the live page.
  const css = getComputedStyle(document.documentElement);
  const FLOW = {};
  ["pv", "load", "charge", "discharge", "buy", "sell", "soc"].forEach((name) => {
    FLOW[name] = css.getPropertyValue("--flow-" + name).trim();
  });
  const COLORS = {};
  Object.entries(data.flows).forEach(([key, flow]) => { COLORS[key] = FLOW[flow]; });
  // Japanese number formats: 12,345.6 kWh, 1,234.56 kW
  const nf = (digits) => new Intl.NumberFormat("ja-JP", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const KWH = nf(1), KW = nf(2), PCT = nf(0), AXIS = new Intl.NumberFormat("ja-JP", { maximumFractionDigits: 2 });
  const kwh = (v) => KWH.format(v) + " kWh";
  const axisValues = (u, ticks) => ticks.map((t) => AXIS.format(t));
  const PAIRS = [
    ["発電・消費", "pv_kwh", "load_kwh"],
    ["買電・売電", "grid_import_kwh", "grid_export_kwh"],
    ["充電・放電", "charge_kwh", "discharge_kwh"],
  ];
  const charts = [];

  // A JST wall-clock view of an epoch second, read with the getUTC* methods.
  const jst = (ts) => new Date((ts + JST_OFFSET) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const hhmm = (ts) => { const d = jst(ts); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); };
  function bucketLabel(ts) {
    const d = jst(ts);
    switch (data.view) {
      case "day": return d.getUTCHours() + "時";
      case "month": return d.getUTCDate() + "日";
      case "year": return (d.getUTCMonth() + 1) + "月";
      default: return d.getUTCFullYear() + "年";
    }
  }
  const widthOf = (el) => Math.max(280, el.clientWidth);

  // legend markers filled with the series' colour (uPlot draws a line's marker hollow)
  const strokeOf = (u, i) => {
    const s = u.series[i];
    return typeof s.stroke === "function" ? s.stroke(u, i) : s.stroke;
  };
  const LEGEND = { markers: { fill: strokeOf, stroke: strokeOf } };

  function mount(el, opts, columns) {
    const chart = new uPlot(Object.assign({ width: widthOf(el), legend: LEGEND }, opts), columns, el);
    charts.push([chart, el]);
    return chart;
  }

  // The power curve as one series per flow (the signed grid and battery powers split into
  // buying and selling, charging and discharging), each in its flow's colour.
  const CURVE_FLOWS = [
    ["pv", "発電", (c, i) => c.pv_w[i]],
    ["load", "消費", (c, i) => c.load_w[i]],
    ["buy", "買電", (c, i) => (c.grid_w[i] === null ? null : Math.max(c.grid_w[i], 0))],
    ["sell", "売電", (c, i) => (c.grid_w[i] === null ? null : Math.max(-c.grid_w[i], 0))],
    ["charge", "充電", (c, i) => (c.battery_w[i] === null ? null : Math.max(-c.battery_w[i], 0))],
    ["discharge", "放電", (c, i) => (c.battery_w[i] === null ? null : Math.max(c.battery_w[i], 0))],
  ];

  // The legend shows every series' name and a value at all times, so it reads without
  // hovering (phones): under the cursor, the value there; otherwise the last one measured.
  function lastIndex(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return i;
    return null;
  }

  function powerCharts() {
    const curve = data.curve;
    const powerEl = document.getElementById("chart-power");
    const socEl = document.getElementById("chart-soc");
    if (!curve.ts.length) {
      powerEl.textContent = powerEl.dataset.empty;
      powerEl.classList.add("empty");
      socEl.closest("section, div").hidden = true;
      socEl.previousElementSibling.hidden = true;
      return;
    }
    const columns = CURVE_FLOWS.map(([, , pick]) => curve.ts.map((_, i) => {
      const w = pick(curve, i);
      return w === null || w === undefined ? null : w / 1000;
    }));
    const last = lastIndex(curve.ts);
    const xAxis = { values: (u, ticks) => ticks.map(hhmm) };
    const timeLegend = {
      label: "時刻",
      value: (u, ts, s, idx) => (idx == null ? "最終 " + hhmm(curve.ts[last]) : ts == null ? "—" : hhmm(ts)),
    };
    const latest = (fmt) => (u, v, s, idx) => {
      const value = idx == null ? u.data[s][lastIndex(u.data[s])] : v;
      return value === null || value === undefined ? "—" : fmt(value);
    };
    mount(powerEl, {
      height: 300,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [xAxis, { label: "kW", size: 56, values: axisValues }],
      series: [timeLegend].concat(CURVE_FLOWS.map(([flow, label]) => ({
        label: label, stroke: FLOW[flow], width: 1.5, points: { show: false },
        value: latest((v) => KW.format(v) + " kW"),
      }))),
    }, [curve.ts].concat(columns));
    mount(socEl, {
      height: 160,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [xAxis, { label: "%", size: 56 }],
      series: [timeLegend, {
        label: "蓄電残量", stroke: FLOW.soc, width: 1.5,
        value: latest((v) => PCT.format(v) + "%"),
      }],
    }, [curve.ts, curve.soc_pct]);
  }

  // 補完 (filled in from the powers) and 欠測 (left out across a long gap): a band behind
  // the bar and its word above it, so the mark reads without hovering (phones).
  const MARK_FILL = { "補完": "rgba(224,168,0,.22)", "欠測": "rgba(91,104,116,.22)" };
  function marksPlugin(marks) {
    const bandOf = (u, i) => {
      const half = (u.valToPos(1, "x", true) - u.valToPos(0, "x", true)) / 2;
      return [u.valToPos(i, "x", true) - half, half * 2];
    };
    return {
      hooks: {
        drawClear: [(u) => {
          marks.forEach((mark, i) => {
            if (!mark) return;
            const [left, width] = bandOf(u, i);
            u.ctx.fillStyle = MARK_FILL[mark.split("・").pop()];
            u.ctx.fillRect(left, u.bbox.top, width, u.bbox.height);
          });
        }],
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.font = "bold " + Math.round(11 * devicePixelRatio) + "px sans-serif";
          ctx.textAlign = "center";
          ctx.textBaseline = "top";
          ctx.fillStyle = "#333d46";
          marks.forEach((mark, i) => {
            if (!mark) return;
            const [left, width] = bandOf(u, i);
            ctx.fillText(mark, left + width / 2, u.bbox.top + 2 * devicePixelRatio);
          });
          ctx.restore();
        }],
      },
    };
  }

  function energyCharts() {
    const group = document.getElementById("energy-charts");
    if (!data.x.length) return;
    const index = data.x.map((_, i) => i);
    const labels = data.x.map(bucketLabel);
    const bars = (align) => uPlot.paths.bars({ size: [0.42, 48], align: align, gap: 1 });
    const marked = (data.marks || []).some(Boolean);
    PAIRS.forEach(([title, a, b]) => {
      const box = document.createElement("figure");
      box.className = "chart energy";
      const caption = document.createElement("figcaption");
      caption.textContent = title + " (kWh)";
      box.appendChild(caption);
      group.appendChild(box);
      mount(box, {
        height: 200,
        plugins: marked ? [marksPlugin(data.marks)] : [],
        cursor: { drag: { x: false, y: false } },
        // headroom above the tallest bar for the 補完 / 欠測 word
        scales: { x: { time: false, range: [-0.6, index.length - 0.4] }, y: { range: (u, min, max) => [0, Math.max(1, max * (marked ? 1.3 : 1.1))] } },
        axes: [
          { values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) && labels[t]) || ""), space: 36 },
          { size: 64, values: axisValues },
        ],
        // without a bar under the cursor, the legend shows the period's totals
        series: [
          { label: "期間", value: (u, i, s, idx) => (idx == null ? "合計" : labels[idx] + (data.marks && data.marks[idx] ? "(" + data.marks[idx] + ")" : "")) },
          { label: data.labels[a], fill: COLORS[a], stroke: COLORS[a], paths: bars(-1), points: { show: false },
            value: (u, v, s, idx) => (idx == null ? kwh(data.totals[a]) : v == null ? "—" : kwh(v)) },
          { label: data.labels[b], fill: COLORS[b], stroke: COLORS[b], paths: bars(1), points: { show: false },
            value: (u, v, s, idx) => (idx == null ? kwh(data.totals[b]) : v == null ? "—" : kwh(v)) },
        ],
      }, [index, data.energy[a], data.energy[b]]);
    });
  }

  if (data.view === "day") powerCharts();
  energyCharts();
  if ("ResizeObserver" in window) {
    const resize = new ResizeObserver(() => {
      charts.forEach(([chart, el]) => chart.setSize({ width: widthOf(el), height: chart.height }));
    });
    charts.forEach(([, el]) => resize.observe(el));
  }
  document.documentElement.dataset.chartsReady = String(charts.length);
})();

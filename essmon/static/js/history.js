/* The history page's charts (uPlot), drawn from the JSON the page carries in
   #history-data. Times are shown in Japan time whatever the browser's zone is. */
(function () {
  "use strict";
  const source = document.getElementById("history-data");
  if (!source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  const JST_OFFSET = 9 * 3600;
  const COLORS = {
    pv_w: "#e0a800", load_w: "#0a6e5c", grid_w: "#5b6874", battery_w: "#2d6cdf", soc_pct: "#2d6cdf",
    pv_kwh: "#e0a800", load_kwh: "#0a6e5c", grid_import_kwh: "#8a4fbf", grid_export_kwh: "#d9534f",
    charge_kwh: "#2d6cdf", discharge_kwh: "#7fb3ff",
  };
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

  function mount(el, opts, columns) {
    const chart = new uPlot(Object.assign({ width: widthOf(el) }, opts), columns, el);
    charts.push([chart, el]);
    return chart;
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
    const kw = (name) => curve[name].map((w) => (w === null ? null : w / 1000));
    const xAxis = { values: (u, ticks) => ticks.map(hhmm) };
    const timeLegend = { label: "時刻", value: (u, ts) => (ts == null ? "—" : hhmm(ts)) };
    mount(powerEl, {
      height: 300,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [xAxis, { label: "kW", size: 56 }],
      series: [timeLegend].concat(["pv_w", "load_w", "grid_w", "battery_w"].map((name) => ({
        label: data.curve_labels[name].replace(" (W", " (kW"),
        stroke: COLORS[name], width: 1.5,
        value: (u, v) => (v == null ? "—" : v.toFixed(2) + " kW"),
      }))),
    }, [curve.ts, kw("pv_w"), kw("load_w"), kw("grid_w"), kw("battery_w")]);
    mount(socEl, {
      height: 160,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [xAxis, { label: "%", size: 56 }],
      series: [timeLegend, {
        label: "蓄電残量", stroke: COLORS.soc_pct, fill: "rgba(45,108,223,.12)", width: 1.5,
        value: (u, v) => (v == null ? "—" : v.toFixed(0) + "%"),
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
          { size: 56 },
        ],
        series: [
          { label: "期間", value: (u, i) => (i == null ? "—" : labels[i] + (data.marks && data.marks[i] ? "(" + data.marks[i] + ")" : "")) },
          { label: data.labels[a], fill: COLORS[a], stroke: COLORS[a], paths: bars(-1), points: { show: false },
            value: (u, v) => (v == null ? "—" : v.toFixed(1) + " kWh") },
          { label: data.labels[b], fill: COLORS[b], stroke: COLORS[b], paths: bars(1), points: { show: false },
            value: (u, v) => (v == null ? "—" : v.toFixed(1) + " kWh") },
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

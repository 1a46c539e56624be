// The Ledger console's only script (served from this host; the Content-Security-Policy allows no other and nothing
// inline). Pages work without it; it draws the metrics charts and keeps the operations page's log tail live.
"use strict";

// Minor units as people write them, from the integer alone: no floating point touches an amount.
function money(minor, exponent, currency) {
  if (!Number.isInteger(minor)) return "";
  const negative = minor < 0;
  let digits = String(Math.abs(minor));
  let text = digits;
  if (exponent > 0) {
    digits = digits.padStart(exponent + 1, "0");
    text = digits.slice(0, -exponent) + "." + digits.slice(-exponent);
  }
  const [whole, fraction] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (negative ? "-" : "") + currency + " " + grouped + (fraction === undefined ? "" : "." + fraction);
}

function drawCharts() {
  const source = document.getElementById("metrics-data");
  if (!source || typeof Chart === "undefined") return;
  Chart.defaults.animation = false;
  Chart.defaults.font.family = "system-ui, sans-serif";
  const byCurrency = new Map(JSON.parse(source.textContent).map(c => [c.currency, c]));
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const c = byCurrency.get(canvas.dataset.currency);
    if (!c) continue;
    // Ticks at whole minor units only (Chart.js would pick 0.001 on an empty axis), starting from zero.
    const amountAxis = { beginAtZero: true, suggestedMax: 10 ** c.exponent, ticks: { precision: 0, callback: value => money(value, c.exponent, c.currency) } };
    const amountTooltip = { callbacks: { label: item => item.dataset.label + ": " + money(item.raw, c.exponent, c.currency) } };
    const configs = {
      charges: {
        type: "bar",
        data: { labels: c.days, datasets: [
          { label: "Succeeded", data: c.succeeded, backgroundColor: "#2e7d32" },
          { label: "Failed", data: c.failed, backgroundColor: "#c62828" }] },
        options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
      },
      net: {
        type: "line",
        data: { labels: c.days, datasets: [{ label: "Net", data: c.net, borderColor: "#1565c0", backgroundColor: "#1565c0" }] },
        options: { scales: { y: amountAxis }, plugins: { tooltip: amountTooltip } },
      },
      refunds: {
        type: "bar",
        data: { labels: c.days, datasets: [{ label: "Refunded", data: c.refunded, backgroundColor: "#6a1b9a" }] },
        options: { scales: { y: amountAxis }, plugins: { tooltip: amountTooltip } },
      },
      failures: {
        type: "bar",
        data: { labels: c.failureCodes.length ? c.failureCodes : ["none"], datasets: [{ label: "Failures", data: c.failureCodes.length ? c.failureCounts : [0], backgroundColor: "#c62828" }] },
        options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
      },
    };
    const config = configs[canvas.dataset.chart];
    if (config) {
      config.options.maintainAspectRatio = false;
      new Chart(canvas, config);
      canvas.dataset.drawn = "true";
    }
  }
}

function followLog() {
  const table = document.getElementById("log-tail");
  if (!table) return;
  const status = document.getElementById("tail-status");
  const body = table.tBodies[0];
  let busy = false;
  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const answer = await fetch("/console/operations/log?after=" + encodeURIComponent(table.dataset.after), {
        credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.redirected || !answer.ok) { status.textContent = "Not updating: sign in again to follow the log."; return; }
      const page = await answer.json();
      if (page.rows) {
        body.insertAdjacentHTML("afterbegin", page.rows);
        while (body.rows.length > 50) body.deleteRow(-1);
      }
      table.dataset.after = String(page.after);
      status.textContent = "Newest first; last checked " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      status.textContent = "Not updating: the ledger did not answer. Retrying.";
    } finally {
      busy = false;
    }
  }
  setInterval(poll, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  followLog();
});

// Monitoring pages: clicking a heat-map cell opens that column in that window.
// Runs after flywheel.js has drawn the charts (both scripts are deferred, in order).
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-plot][data-click]")) {
    if (typeof el.on !== "function") continue;
    el.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (!p) return;
      const url = el.dataset.click
        .replace("{y}", encodeURIComponent(p.y))
        .replace("{x}", encodeURIComponent(p.x));
      window.location.href = url;
    });
  }
});

// Render every element that carries a Plotly figure in its data-plot attribute.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-plot]")) {
    try {
      const fig = JSON.parse(el.dataset.plot);
      window.Plotly.newPlot(el, fig.data, fig.layout || {}, { displaylogo: false, responsive: true });
      el.dataset.rendered = "1";
    } catch (err) {
      el.textContent = "chart failed: " + err;
    }
  }
});

// Jobs page: while any job is queued or running, poll the page's JSON twin and update each
// row's progress bar, status and message in place; reload when the set of jobs changes.
document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table.jobs[data-refresh]");
  if (!table) return;
  const every = Number(table.dataset.refresh) || 2000;
  const twin = () => {
    const u = new URL(window.location.href);
    u.searchParams.set("format", "json");
    return u.toString();
  };
  async function tick() {
    let doc;
    try {
      const resp = await fetch(twin(), { headers: { Accept: "application/json" } });
      if (!resp.ok) return setTimeout(tick, every * 2);
      doc = await resp.json();
    } catch (err) {
      return setTimeout(tick, every * 2);
    }
    const rows = table.querySelectorAll("tbody tr[data-job]");
    const known = new Set(Array.from(rows, (r) => r.dataset.job));
    if (doc.jobs.length !== rows.length || doc.jobs.some((j) => !known.has(j.job_id))) {
      window.location.reload();
      return;
    }
    for (const job of doc.jobs) {
      const row = table.querySelector(`tr[data-job="${job.job_id}"]`);
      const bar = row.querySelector("progress");
      bar.value = job.progress;
      row.querySelector(".pct").textContent = `${Math.round(job.progress * 100)}%`;
      const status = row.querySelector(".status");
      status.textContent = job.status;
      status.className = `status status-${job.status}`;
      row.querySelector(".message").textContent = job.error || job.message || "";
      row.dataset.status = job.status;
    }
    document.getElementById("active-jobs").textContent = doc.active;
    if (doc.active > 0) setTimeout(tick, every);
    else window.location.reload(); // all done: show the results' links (the reloaded page polls no more)
  }
  if (Number(table.dataset.active) > 0) setTimeout(tick, every);
});

#!/usr/bin/env python3
"""kappa report --html renders in headless Chromium: every image decodes, the tables are there.

Runs a small real study, writes the page with the real kappa, checks that it is self-contained
(no address outside the page: images are data: URIs, CSS inline, no script) and that every
embedded SVG is well-formed XML, then loads a copy of it with a probe script appended in
`chromium --headless --dump-dom` (the probe writes each image's naturalWidth and the table
titles into the DOM) and saves a screenshot beside the results. Exits 77 (CTest: skipped), with
a line saying why, where /usr/bin/chromium is absent.
"""
import argparse
import base64
import html.parser
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

CHROMIUM = "/usr/bin/chromium"
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")
GRID = """optimizer = gd cg lbfgs
synthetic = kind=spectrum,n=40,d=6,noise=0.01,n_test=10
synthetic.cond = 10 1e3 1e5
max_iterations = 300
grad_tol = 0
repeats = 2
[gd]
lr = auto 1e-3
"""
PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight, complete: i.complete}));
  const tables = [...document.querySelectorAll('h3')].map(h => h.textContent);
  const rows = [...document.querySelectorAll('table')].map(t => t.rows.length);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = 'PRO' + 'BE' + JSON.stringify({images, tables, rows}) + 'EBO' + 'RP';
  document.body.appendChild(out);
});
</script>
"""


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}")
        sys.exit(1)


def run(command, timeout=240):
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout)
    check(result.returncode == 0, f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


class Sources(html.parser.HTMLParser):
    """Every address the page refers to, and the tags that could fetch something."""

    def __init__(self):
        super().__init__()
        self.addresses, self.tags = [], []

    def handle_starttag(self, tag, attributes):
        self.tags.append(tag)
        for name, value in attributes:
            if name in ("src", "href") and value is not None:
                self.addresses.append(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"skipped: {CHROMIUM} is absent (apt-get install chromium); the page is not rendered")
        sys.exit(77)
    os.makedirs(args.work, exist_ok=True)
    grid, path, page = (os.path.join(args.work, name) for name in ("html.ini", "html.h5", "report.html"))
    with open(grid, "w") as f:
        f.write(GRID)
    run([args.kappa, "study", grid, "-o", path, "--force"])
    report = run([args.kappa, "report", path, "--html", page, "--html-heatmap", "optimizer", "synthetic.cond"])
    text = open(page, encoding="utf-8").read()

    # Self-contained: only in-page anchors and data: URIs, no script, stylesheet link or frame.
    sources = Sources()
    sources.feed(text)
    check(all(a.startswith(("#", "data:image/svg+xml;base64,")) for a in sources.addresses),
          f"an address outside the page: {[a[:60] for a in sources.addresses if not a.startswith(('#', 'data:'))]}")
    check(not {"script", "link", "iframe", "object"} & set(sources.tags), f"tags {set(sources.tags)}")
    svgs = [a for a in sources.addresses if a.startswith("data:")]
    check(len(svgs) == 4, f"{len(svgs)} images (performance and data profile, curves, heatmap)")
    for address in svgs:
        root = ElementTree.fromstring(base64.b64decode(address.split(",", 1)[1]))
        check(root.tag == "{http://www.w3.org/2000/svg}svg" and float(root.get("width")) > 0, f"svg root {root.tag}")
    # The manifest shows the file's manifest group and root attributes; the tables are those of
    # the terminal report.
    with __import__("h5py").File(path, "r") as f:
        for name in ("kappa.git_commit", "plugin.1.content_hash", "start_time"):
            check(f"<td>{name}</td><td>{html.escape(f['manifest'].attrs[name])}</td>" in text, f"manifest: no key {name}")
        for name in ("grid_hash", "format_version", "task_count", "fingerprints"):
            value = f.attrs[name]
            value = value.decode() if isinstance(value, bytes) else str(value)
            check(f"<td>{name}</td><td>" in text, f"manifest: no attribute {name}")
            check(html.escape(value.split("\n")[0][:40]) in text, f"manifest: value of {name} ({value[:40]})")
    for line in report.splitlines():
        if line.startswith(("cg ", "lbfgs ")) and "[" in line:  # the by-optimizer rows, with their intervals
            cells = "".join(f'<td class="n">{cell}</td>' for cell in line.split()[1:])
            check(cells in text, f"the row '{line}' is not in the page")
            break
    else:
        check(False, f"no by-optimizer row in the report:\n{report}")

    # Rendered: each image decoded to a non-zero size; the tables present.
    probe = os.path.join(args.work, "probe.html")
    with open(probe, "w", encoding="utf-8") as f:
        f.write(text.replace("</body>", PROBE + "</body>"))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = run(flags + ["--dump-dom", "file://" + os.path.abspath(probe)])
    found = re.search(r"PROBE(\{.*?\})EBORP", dom, re.S)
    check(found, f"the probe did not run:\n{dom[-2000:]}")
    result = json.loads(html.unescape(found.group(1)))
    check(len(result["images"]) == 4, f"images in the DOM: {result['images']}")
    for image in result["images"]:
        check(image["complete"] and image["width"] > 0 and image["height"] > 0, f"an image did not decode: {image}")
    for title in ("manifest of", "attributes of", "by optimizer", "by synthetic.cond", "by gd.lr", "best grid point per optimizer",
                  "performance profile rho(tau)", "data profile d(alpha)", "work to target", "tuning gd",
                  "sensitivity of gd to gd.lr"):
        check(any(t.startswith(title) for t in result["tables"]), f"no table '{title}' among {result['tables']}")
    check(all(rows >= 2 for rows in result["rows"]), f"an empty table: {result['rows']}")
    screenshot = os.path.join(args.work, "report.png")
    if os.path.exists(screenshot):
        os.remove(screenshot)
    run(flags + ["--window-size=1366,900", f"--screenshot={screenshot}", "file://" + os.path.abspath(page)])
    with open(screenshot, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG")
    print(f"ok: {len(result['images'])} images decoded (natural width > 0), {len(result['tables'])} tables; "
          f"screenshot {screenshot}")


if __name__ == "__main__":
    main()

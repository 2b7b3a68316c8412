"""Build the web UI: web-src/{index.html,app.css,app.js} -> firmware/web/static/index.html.gz.

Minify-lite (drop comment lines and indentation, collapse CSS whitespace), inline the CSS
and JS into one page (one request on the device), gzip -9 with a fixed timestamp so the
output is reproducible. Fails if the gzipped assets exceed the 30 KB budget."""
import gzip
import io
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "web-src")
OUT = os.path.join(ROOT, "firmware", "web", "static")
BUDGET = 30 * 1024


def read(name):
    with open(os.path.join(SRC, name), encoding="utf-8") as f:
        return f.read()


def min_css(s):
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"\s*([{};:,>])\s*", r"\1", s)
    return s.replace(";}", "}").strip()


def min_js(s):
    out = []
    for line in s.splitlines():
        t = line.strip()
        if not t or t.startswith("//"):
            continue  # only whole-line comments: "//" inside strings (ws://) stays intact
        out.append(t)
    return "\n".join(out)


def min_html(s):
    s = re.sub(r"<!--.*?-->", "", s, flags=re.S)
    return "\n".join(t for t in (line.strip() for line in s.splitlines()) if t)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def build():
    html = min_html(read("index.html"))
    html = html.replace("/*CSS*/", min_css(read("app.css")))
    html = html.replace("/*JS*/", min_js(read("app.js")))
    raw = html.encode("utf-8")
    z = gz(raw)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "index.html.gz")
    with open(path, "wb") as f:
        f.write(z)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT) if n.endswith(".gz"))
    print("web: index.html %d bytes -> %s %d bytes gzip; all assets %d bytes (budget %d)"
          % (len(raw), os.path.relpath(path, ROOT), len(z), total, BUDGET))
    if total > BUDGET:
        print("web: over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(build())

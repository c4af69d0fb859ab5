"""A local stand-in for Yimaitong: the fixture content served over HTTP, with faults on demand.

``FixtureSite`` binds a free port on 127.0.0.1 and serves from a background thread::

    with FixtureSite(page_size=3) as site:
        site.faults.status["/drugref/html/10001.shtml"] = [503, 429]   # next two answers fail
        site.faults.rate_limit_after = 10                              # captcha page from request 11 on
        run_crawl(settings, out, base_url=site.base_url)

Every switch is a field of :class:`Faults`; the same switches can be set over HTTP with
``POST /__fixture__/faults`` (JSON body of fields to set) for a site started in another process, and
``POST /__fixture__/edit`` (``{"drug_id", "section", "text"}``) edits a drug page. Requests are logged
in ``site.requests`` (path, status, request headers).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ddikg.crawler.fixture_site import render
from ddikg.crawler.fixture_site.content import FixtureDrug, categories, disease_seeds, load_content

CONTROL = "/__fixture__/"


@dataclass
class Faults:
    """Fault switches; paths are URL paths such as ``/drugref/html/10001.shtml``."""

    status: dict[str, list[int]] = field(default_factory=dict)  # path -> status codes for its next answers
    slow: dict[str, float] = field(default_factory=dict)  # path -> seconds to wait before answering
    # paths served cut off: a drug page inside its first section, a listing page after its first drug link.
    # A listing is named with its query (``/drugref/drugCateLast.do?treeCode=H11&page=2``) or by path (all).
    truncate: list[str] = field(default_factory=list)
    truncate_next: dict[str, int] = field(default_factory=dict)  # path -> cut off its next N answers only
    # path -> Retry-After sent with injected statuses; "date+N" sends the HTTP date N seconds after the answer
    retry_after: dict[str, str] = field(default_factory=dict)
    login: list[str] = field(default_factory=list)  # paths that answer with a login page
    gbk: list[str] = field(default_factory=list)  # drug ids served GBK-encoded (charset in header and meta)
    gbk_meta_only: list[str] = field(default_factory=list)  # GBK, charset declared only in <meta>
    robots_disallow: list[str] = field(default_factory=list)  # Disallow lines of /robots.txt
    rate_limit_after: int | None = None  # answer with the captcha page after this many page requests
    rate_limit_paths: list[str] = field(default_factory=list)  # these paths always get the captcha page
    conditional: bool = True  # send ETag/Last-Modified and answer 304 to conditional requests


@dataclass
class LoggedRequest:
    path: str
    status: int
    headers: dict[str, str]
    query: str = ""
    at: float = 0.0  # time.monotonic() when the answer was sent


class FixtureSite:
    """The fixture site server (context manager). ``page_size`` drugs per listing page."""

    def __init__(self, content: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 page_size: int = 4):
        self.drugs: dict[str, FixtureDrug] = {d.drug_id: d for d in load_content(content)}
        self.page_size = page_size
        self.faults = Faults()
        self.requests: list[LoggedRequest] = []
        self._modified: dict[str, float] = dict.fromkeys(self.drugs, 1_700_000_000.0)
        self._page_requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FixtureSite:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fixture-site", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    # ------------------------------------------------------------------ content

    def categories(self) -> dict[str, tuple[str, list[FixtureDrug]]]:
        return categories(list(self.drugs.values()))

    def listing_urls(self) -> list[str]:
        return [f"{self.base_url}/drugref/drugCateLast.do?treeCode={code}" for code in self.categories()]

    def write_profile(self, path: str | Path, base: str | Path | None = None) -> Path:
        """A copy of a site profile (default: the packaged one) whose disease seeds are this site's categories.

        Tests crawl with it so that they follow the content file, whatever categories it holds.
        """
        return write_fixture_profile(path, list(self.drugs.values()), base)

    def drug_path(self, drug_id: str) -> str:
        return f"/drugref/html/{drug_id}.shtml"

    def edit_drug(self, drug_id: str, section: str, text: str) -> None:
        """Change one section of a drug page (its ETag and Last-Modified change with it)."""
        with self._lock:
            drug = self.drugs[drug_id]
            self.drugs[drug_id] = drug.model_copy(update={"sections": drug.sections | {section: text}})
            self._modified[drug_id] = max(time.time(), self._modified[drug_id] + 1)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self._page_requests = 0

    def fetched(self, path: str) -> int:
        """How many requests for ``path`` were served (any status)."""
        return sum(1 for r in self.requests if r.path == path)

    # ------------------------------------------------------------------ answering

    def answer(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers, body, delay) for one request; also the control endpoints."""
        url = urlparse(raw_path)
        path, query = url.path, parse_qs(url.query)
        if path.startswith(CONTROL):
            return self._control(method, path[len(CONTROL):], body)
        with self._lock:
            delay = self.faults.slow.get(path, 0.0)
            queued = self.faults.status.get(path)
            if queued:
                code = queued.pop(0)
                retry_after = self.faults.retry_after.get(path)
                if retry_after is not None and retry_after.startswith("date+"):
                    retry_after = formatdate(time.time() + float(retry_after[5:]), usegmt=True)
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                return code, headers, f"injected {code}".encode(), delay
            if path == "/robots.txt":
                lines = ["User-agent: *"] + [f"Disallow: {p}" for p in self.faults.robots_disallow]
                return 200, {"Content-Type": "text/plain"}, ("\n".join(lines) + "\n").encode(), delay
            self._page_requests += 1
            limited = (self.faults.rate_limit_after is not None and self._page_requests > self.faults.rate_limit_after)
            if limited or path in self.faults.rate_limit_paths:
                return 200, _html_headers("utf-8"), render.rate_limit_page().encode(), delay
            if path in self.faults.login:
                return 200, _html_headers("utf-8"), render.login_page().encode(), delay
            if path == "/drugref/drugCateIndex.do":
                cats = {code: name for code, (name, _) in self.categories().items()}
                html = render.index_page(cats)
                if self._cut(path, raw_path):  # cut after its first category link
                    html = html[: html.find("</li>") + len("</li>")]
                return 200, _html_headers("utf-8"), html.encode(), delay
            if path == "/drugref/drugCateLast.do":
                status, out, body = self._listing(query)
                if status == 200 and self._cut(path, raw_path):
                    html = body.decode("utf-8")
                    items = html.find('class="box1"')
                    body = html[: html.find("</div></div>", items) + len("</div></div>")].encode("utf-8")
                return status, out, body, delay
            if path.startswith("/drugref/html/") and path.endswith(".shtml"):
                return self._drug(path, path[len("/drugref/html/"):-len(".shtml")], headers) + (delay,)
            return 404, _html_headers("utf-8"), render.page("404", "<p>页面不存在</p>").encode(), delay

    def _listing(self, query) -> tuple[int, dict[str, str], bytes]:
        code = (query.get("treeCode") or [""])[0]
        cats = self.categories()
        if code not in cats:
            return 404, _html_headers("utf-8"), render.page("404", "<p>分类不存在</p>").encode()
        name, drugs = cats[code]
        n_pages = max(1, -(-len(drugs) // self.page_size))
        try:
            page_no = min(max(int((query.get("page") or ["1"])[0]), 1), n_pages)
        except ValueError:
            page_no = 1
        chunk = drugs[(page_no - 1) * self.page_size: page_no * self.page_size]
        return 200, _html_headers("utf-8"), render.listing_page(code, name, chunk, page_no, n_pages).encode()

    def _drug(self, path: str, drug_id: str, headers) -> tuple[int, dict[str, str], bytes]:
        drug = self.drugs.get(drug_id)
        if drug is None:
            return 404, _html_headers("utf-8"), render.page("404", "<p>药品不存在</p>").encode()
        gbk = drug_id in self.faults.gbk or drug_id in self.faults.gbk_meta_only
        charset = "gbk" if gbk else "utf-8"
        html = render.drug_page(drug, charset=charset)
        body = html.encode(charset, errors="xmlcharrefreplace")
        out = {"Content-Type": "text/html" if drug_id in self.faults.gbk_meta_only else f"text/html; charset={charset}"}
        if self._cut(path, path):
            # Cut inside the first section: no complete section and no closing tags.
            body = html[: html.index('class="more-infomation"') + 10].encode(charset, errors="xmlcharrefreplace")
            return 200, out, body
        if self.faults.conditional:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            modified = self._modified[drug_id]
            out |= {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True)}
            if _not_modified(headers, etag, modified):
                return 304, out, b""
        return 200, out, body

    def _cut(self, path: str, raw_path: str) -> bool:
        """Whether this answer is served cut off (the ``truncate`` and ``truncate_next`` switches)."""
        for key in (raw_path, path):
            left = self.faults.truncate_next.get(key, 0)
            if left > 0:
                self.faults.truncate_next[key] = left - 1
                return True
        return raw_path in self.faults.truncate or path in self.faults.truncate

    def _control(self, method: str, what: str, body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        js = {"Content-Type": "application/json"}
        try:
            data = json.loads(body or b"{}")
            if method == "POST" and what == "faults":
                with self._lock:
                    for key, value in data.items():
                        if not hasattr(self.faults, key):
                            raise KeyError(f"unknown fault switch {key!r}")
                        setattr(self.faults, key, value)
            elif method == "POST" and what == "edit":
                self.edit_drug(data["drug_id"], data["section"], data["text"])
            elif method == "POST" and what == "reset":
                with self._lock:
                    self.faults = Faults()
            elif what != "faults":
                return 404, js, b'{"error": "unknown control endpoint"}', 0.0
        except (KeyError, ValueError, TypeError) as exc:
            return 400, js, json.dumps({"error": str(exc)}).encode(), 0.0
        return 200, js, json.dumps(asdict(self.faults)).encode(), 0.0


def fixture_profile_path() -> Path:
    """The packaged profile for the fixture site: the Yimaitong profile plus the fixture's disease seeds."""
    from importlib import resources

    return Path(str(resources.files("ddikg.crawler.fixture_site") / "profile.toml"))


def write_fixture_profile(path: str | Path, drugs: list[FixtureDrug], base: str | Path | None = None) -> Path:
    """``base`` (default: the packaged Yimaitong profile) with a [diseases] table of ``drugs``' categories."""
    from ddikg.crawler.profile import default_profile_path, load_profile

    text = Path(base or default_profile_path()).read_text(encoding="utf-8")
    cuts = [i for i in (text.find("\n# Disease seeds"), text.find("\n[diseases]")) if i >= 0]
    lines = [text[:min(cuts)] if cuts else text, "",
             "# Disease seeds of the fixture site (crawler/fixture_site/content/drugs.jsonl): disease -> category codes",
             "[diseases]"]
    lines += [f"{json.dumps(d, ensure_ascii=False)} = {json.dumps(codes, ensure_ascii=False)}"
              for d, codes in disease_seeds(drugs).items()]
    path = Path(path)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    load_profile(path)  # fail here, not in the crawl, if the copy is not a valid profile
    return path


def _html_headers(charset: str) -> dict[str, str]:
    return {"Content-Type": f"text/html; charset={charset}"}


def _not_modified(headers, etag: str, modified: float) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None:
        return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = headers.get("If-Modified-Since")
    if ims:
        try:
            return parsedate_to_datetime(ims).timestamp() >= int(modified)
        except (TypeError, ValueError):
            return False
    return False


def _handler_for(site: FixtureSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ddikg-fixture/1.0"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms ACK stalls

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload, delay = site.answer(method, self.path, self.headers, body)
            if delay:
                time.sleep(delay)
            with site._lock:
                url = urlparse(self.path)
                site.requests.append(LoggedRequest(url.path, status, dict(self.headers.items()), url.query,
                                                   time.monotonic()))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)) if status != 304 else "0")
            self.end_headers()
            if method != "HEAD" and status != 304:
                self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve("HEAD")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet; requests are in site.requests
            pass

    return Handler

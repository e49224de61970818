"""The round-up note as one self-contained HTML page, and the ranking chart (SVG for the page, PNG for chat).

Drawn with matplotlib (object API, Agg and SVG canvases: no pyplot state, no display). It was chosen over pygal,
which is far lighter (0.5 MB against about 95 MB with its fonttools and Pillow), because the chat platforms show
only bitmap images inline: pygal makes a PNG only through cairosvg and the system Cairo library, which pip cannot
install, while matplotlib makes the SVG and the PNG from wheels alone. Text in the SVG is drawn as paths, so the
page needs no fonts and no scripts; every piece of participant text in the page is escaped.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from facilitation.config import CHART_BARS, EngineConfig
from facilitation.note import RoundUpNote

BAR_LABEL_CHARS = 48


def ranking_chart(title: str, bars: Sequence[tuple[str, float]], fmt: str) -> bytes:
    """A horizontal bar chart, best at the top: `fmt` is "svg" or "png"."""
    labels = [_short(label) for label, _ in bars]
    values = [value for _, value in bars]
    fig = Figure(figsize=(7.5, 0.55 * max(len(bars), 1) + 1.2), dpi=110)
    ax = fig.add_subplot()
    positions = list(range(len(bars)))[::-1]
    ax.barh(positions, values, color="#3b6ea8")
    ax.set_yticks(positions, labels=labels)
    for y, value in zip(positions, values, strict=True):
        ax.text(value, y, f" {value:g}", va="center", fontsize=9)
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(0, max(values, default=0) * 1.15 or 1)
    fig.tight_layout()
    out = io.BytesIO()
    canvas = FigureCanvasSVG(fig) if fmt == "svg" else FigureCanvasAgg(fig)
    canvas.print_figure(out, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()


def _short(text: str) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= BAR_LABEL_CHARS else flat[: BAR_LABEL_CHARS - 1].rstrip() + "\u2026"
    return flat.replace("$", "\\$")  # matplotlib reads $...$ as mathematics


def note_bars(note: RoundUpNote, cfg: EngineConfig) -> list[tuple[str, float]]:
    ranked = sorted((p for p in note.proposals if p.rank is not None), key=lambda p: p.rank or 0)[:CHART_BARS]
    return [(cfg.say("chart_bar", number=p.number, text=p.text), float(p.score or 0)) for p in ranked]


def render_html(note: RoundUpNote, markdown: str, cfg: EngineConfig) -> str:
    """The page: the note's Markdown as HTML (every text escaped first), the ranking chart inline after the
    ranking's heading, one style sheet, no scripts and nothing fetched."""
    chart = ""
    bars = note_bars(note, cfg)
    if bars:
        ranked = sum(1 for p in note.proposals if p.rank is not None)
        title = cfg.say("chart_title") if ranked <= CHART_BARS else cfg.say("chart_title_top", n=CHART_BARS,
                                                                             total=ranked)
        svg = ranking_chart(title, bars, "svg").decode("utf-8")
        svg = svg[svg.index("<svg"):]  # the XML prologue and doctype have no place inside HTML
        svg = re.sub(r"<!--.*?-->|<metadata>.*?</metadata>", "", svg, flags=re.S)  # labels repeated; RDF
        chart = f'<figure class="chart" role="img" aria-label="{html.escape(title)}">{svg}</figure>'
    body = _markdown_html(markdown, chart, cfg.say("note_h_ranking"))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>{html.escape(note.title)}</title><style>{_STYLE}</style></head>\n<body><main>\n{body}\n</main>"
        "</body></html>\n"
    )


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f3;color:#222}"
    "main{max-width:50rem;margin:2rem auto;padding:1rem 2rem;background:#fff}"
    "h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;margin-top:2rem}"
    "h3{font-size:1.05rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
    "li p{margin:.1rem 0 .1rem 1rem;color:#444}figure.chart svg{max-width:100%;height:auto}"
)
_INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<!\w)_(.+?)_(?!\w)"), r"<em>\1</em>")]


# A character the note's Markdown escaped (participants' `<`, `*`, `[`...): shown as itself, never as markup.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_HELD = re.compile("\x00(\\d+)\x00")


def _inline(text: str) -> str:
    held: list[str] = []

    def hold(m: re.Match[str]) -> str:
        held.append(m.group(1))
        return f"\x00{len(held) - 1}\x00"

    out = html.escape(_ESCAPED.sub(hold, text.replace("\x00", "")), quote=True)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return _HELD.sub(lambda m: html.escape(held[int(m.group(1))], quote=True), out)


def _markdown_html(markdown: str, chart: str, ranking_heading: str) -> str:
    """The note's own Markdown (headings, bullets with indented continuation lines, one table, paragraphs)."""
    out: list[str] = []
    in_list = in_table = False
    for line in markdown.splitlines():
        if in_list and not (line.startswith("- ") or line.startswith("  ")):
            out.append("</ul>")
            in_list = False
        if in_table and not line.startswith("|"):
            out.append("</table>")
            in_table = False
        if not line.strip():
            continue
        heading = re.match(r"(#{1,3}) (.*)", line)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            if level == 2 and heading.group(2).endswith(ranking_heading) and chart:
                out.append(chart)
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("  ") and in_list:
            out[-1] = out[-1][: -len("</li>")] + f"<p>{_inline(line.strip())}</p></li>"
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(set(c) <= {"-"} for c in cells):
                continue
            tag = "td" if in_table else "th"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
        else:
            out.append(f"<p>{_inline(line)}</p>")
    out.append("</ul>" if in_list else "")
    out.append("</table>" if in_table else "")
    return "\n".join(x for x in out if x)

"""The ROI report as a PDF (fpdf2): the page's figures, chart, breakdowns, definitions and sources.

A pure function of a built :class:`RoiReport` (nothing is aggregated again here). Text is drawn in the
PDF core font Helvetica, which only knows Latin-1: :func:`latin1` maps other characters deterministically
(typographic punctuation to ASCII, accented letters to their base letter, anything else to ``?``), so
names and questions in any script never make the builder fail and the same report gives the same text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import timedelta

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from services.reports.roi import RoiBreakdownRow, RoiMetrics, RoiReport

FONT = "helvetica"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
BAR_ALL = (173, 181, 189)
BAR_DEFLECTED = (25, 135, 84)
CHART_HEIGHT_MM = 55.0
TABLE_COLUMNS = (
    "Conversations",
    "Deflection",
    "Automation success",
    "Tickets",
    "Hours saved",
    "Saved",
    "Helpful",
)
_PUNCTUATION = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2026": "...",
        "\u2022": "-",
        "\u2192": "->",
        "\u2190": "<-",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u20ac": "EUR",
        "\u2009": " ",
        "\u202f": " ",
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u0131": "i",
    }
)


def latin1(text: str) -> str:
    """``text`` with only Latin-1 characters: punctuation mapped, accents stripped, the rest ``?``."""
    out: list[str] = []
    for char in text.translate(_PUNCTUATION):
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) < 256)
        out.append(base or "?")
    return "".join(out)


def pct(value: float | None) -> str:
    """A ratio as the page prints it (``62.5 %``), ``-`` when undefined."""
    return "-" if value is None else f"{value * 100:.1f} %"


def num(value: float | None, digits: int = 1) -> str:
    """A number with ``digits`` decimals as the page prints it, ``-`` when undefined."""
    return "-" if value is None else f"{value:.{digits}f}"


def money(value: float) -> str:
    """Whole currency units with thousands separators (``12,345``)."""
    return f"{value:,.0f}"


def period_label(report: RoiReport) -> str:
    """``YYYY-MM-DD to YYYY-MM-DD`` (both days included), as chosen on the page."""
    last_day = (report.end - timedelta(days=1)).date()
    return f"{report.start.date().isoformat()} to {last_day.isoformat()}"


def headline_figures(report: RoiReport) -> list[tuple[str, str]]:
    """The totals the page shows in its stat tiles, as (label, value)."""
    t, currency = report.totals, report.assumptions.currency
    return [
        ("Conversations", str(t.conversations)),
        ("Deflection", pct(t.deflection_rate)),
        (
            "Automation success",
            f"{pct(t.automation_success_rate)} ({t.automations_succeeded} of {t.automations_finished})",
        ),
        (
            "Median time to resolve, bot / agent",
            f"{num(t.mttr_bot_hours_median)} h / {num(t.mttr_agent_hours_median)} h",
        ),
        ("Agent hours saved", num(t.agent_hours_saved)),
        ("Saved", f"{currency} {money(t.money_saved)}"),
        ("Rated answers helpful", f"{pct(t.satisfaction)} ({t.rated_answers} ratings)"),
    ]


class _ReportPdf(FPDF):
    """A4 portrait with a running footer."""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"Deskpilot ROI report - page {self.page_no()}/{{nb}}", align="C")


def roi_report_pdf(report: RoiReport) -> bytes:
    """The report as PDF bytes (deterministic for a given report)."""
    pdf = _ReportPdf(orientation="P", unit="mm", format="A4")
    pdf.set_title("Deskpilot ROI report")
    pdf.set_author("Deskpilot")
    pdf.set_creation_date(report.end)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    _title(pdf, report)
    _totals(pdf, report)
    _heading(pdf, "By week")
    _weekly_chart(pdf, report.by_week)
    for title, rows in (
        ("By week", report.by_week),
        ("By department", report.by_department),
        ("By intent", report.by_intent),
    ):
        _heading(pdf, title)
        _breakdown(pdf, title[3:].capitalize(), rows, report.assumptions.currency)
    _unanswered(pdf, report)
    _generated_articles(pdf, report)
    _definitions(pdf, report)
    _assumptions(pdf, report)
    _sources(pdf, report)
    return bytes(pdf.output())


def _text(pdf: FPDF, text: str, *, size: float = 9.5, style: str = "", color: Sequence[int] = INK) -> None:
    """A wrapped paragraph at the left margin."""
    pdf.set_font(FONT, style=style, size=size)
    pdf.set_text_color(*color)
    pdf.multi_cell(0, size * 0.5, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _heading(pdf: FPDF, title: str) -> None:
    if pdf.get_y() > pdf.page_break_trigger - 30:  # keep a heading with what follows it
        pdf.add_page()
    pdf.ln(4)
    _text(pdf, title, size=13, style="B")
    pdf.ln(1)


def _title(pdf: FPDF, report: RoiReport) -> None:
    _text(pdf, "Return on investment", size=20, style="B")
    _text(pdf, f"Deskpilot ROI report, {period_label(report)} (UTC)", size=11, color=MUTED)
    pdf.ln(3)


def _totals(pdf: FPDF, report: RoiReport) -> None:
    pdf.set_font(FONT, size=10)
    with pdf.table(
        col_widths=(90, 90),
        text_align=("LEFT", "RIGHT"),
        first_row_as_headings=False,
        line_height=6,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for label, value in headline_figures(report):
            row = table.row()
            row.cell(latin1(label))
            row.cell(latin1(value), style=FontFace(emphasis="BOLD"))


def _weekly_chart(pdf: FPDF, weeks: Sequence[RoiBreakdownRow]) -> None:
    """Conversations (grey) and deflected conversations (green) per week, with axes and labels."""
    if pdf.get_y() + CHART_HEIGHT_MM + 20 > pdf.page_break_trigger:
        pdf.add_page()
    left, top = pdf.l_margin + 12, pdf.get_y() + 2
    width, height = pdf.epw - 14, CHART_HEIGHT_MM
    bottom = top + height
    peak = max((row.conversations for row in weeks), default=0) or 1
    pdf.set_draw_color(*MUTED)
    pdf.set_line_width(0.2)
    pdf.line(left, top, left, bottom)
    pdf.line(left, bottom, left + width, bottom)
    pdf.set_font(FONT, size=7)
    pdf.set_text_color(*MUTED)
    for fraction in (0.0, 0.5, 1.0):  # y axis ticks: 0, half, peak
        y = bottom - fraction * height
        pdf.line(left - 1, y, left, y)
        pdf.set_xy(pdf.l_margin, y - 2)
        pdf.cell(10, 4, f"{peak * fraction:g}", align="R")
    slot = width / max(len(weeks), 1)
    bar = slot * 0.7
    label_every = max(1, round(len(weeks) / 12))  # at most ~12 week labels
    for index, row in enumerate(weeks):
        x = left + index * slot + (slot - bar) / 2
        for value, color in ((row.conversations, BAR_ALL), (row.deflected, BAR_DEFLECTED)):
            h = value / peak * height
            if h > 0:
                pdf.set_fill_color(*color)
                pdf.rect(x, bottom - h, bar, h, style="F")
        if index % label_every == 0:
            pdf.set_xy(left + index * slot - 4, bottom + 1)
            pdf.cell(slot + 8, 4, row.week_start.strftime("%m-%d") if row.week_start else "", align="C")
    pdf.set_xy(pdf.l_margin, bottom + 6)
    _legend(pdf)


def _legend(pdf: FPDF) -> None:
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*INK)
    for label, color in (("Conversations", BAR_ALL), ("Deflected", BAR_DEFLECTED)):
        pdf.set_fill_color(*color)
        pdf.rect(pdf.get_x(), pdf.get_y() + 1, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(30, 5, label)
    pdf.cell(0, 5, "Week starting (Monday, UTC)", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _breakdown_cells(row: RoiMetrics) -> list[str]:
    return [
        str(row.conversations),
        pct(row.deflection_rate),
        pct(row.automation_success_rate),
        str(row.tickets),
        num(row.agent_hours_saved),
        money(row.money_saved),
        pct(row.satisfaction),
    ]


def _breakdown(pdf: FPDF, key_title: str, rows: Sequence[RoiBreakdownRow], currency: str) -> None:
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*INK)
    if not rows:
        _text(pdf, "No data in this period.", size=9)
        return
    with pdf.table(
        col_widths=(40, 22, 20, 22, 16, 18, 20, 18),
        text_align=("LEFT", *("RIGHT",) * len(TABLE_COLUMNS)),
        headings_style=FontFace(emphasis="BOLD"),
        line_height=5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        header = table.row()
        for title in (key_title, *TABLE_COLUMNS[:-2], f"Saved ({currency})", TABLE_COLUMNS[-1]):
            header.cell(latin1(title))
        for data in rows:
            cells = table.row()
            for value in (data.key or "-", *_breakdown_cells(data)):
                cells.cell(latin1(value))


def _unanswered(pdf: FPDF, report: RoiReport) -> None:
    _heading(pdf, "Top unanswered questions")
    if not report.top_unanswered:
        _text(pdf, "None in this period.")
    for number, question in enumerate(report.top_unanswered, start=1):
        _text(pdf, f"{number}. {question.text} ({question.count})")


def _generated_articles(pdf: FPDF, report: RoiReport) -> None:
    usage = report.generated_articles
    _heading(pdf, "Generated articles")
    _text(
        pdf,
        f"{usage.created} published from resolved tickets; cited {usage.citations} times "
        f"({usage.articles_cited} articles).",
    )


def _definitions(pdf: FPDF, report: RoiReport) -> None:
    _heading(pdf, "How these figures are defined")
    for name, definition in report.definitions.items():
        _text(pdf, name, style="B")
        _text(pdf, definition)
        pdf.ln(1)


def _assumptions(pdf: FPDF, report: RoiReport) -> None:
    a = report.assumptions
    _heading(pdf, "Assumptions")
    _text(
        pdf,
        f"Deflection window {a.deflection_window_hours:g} h; "
        f"{a.currency} {a.cost_per_ticket_l1:g} per Level 1 ticket; "
        f"{a.currency} {a.cost_per_self_service:g} per self-service contact; "
        f"{a.default_handle_minutes:g} handle minutes for intents not listed below.",
    )
    minutes = ", ".join(f"{intent} {value:g}" for intent, value in sorted(a.handle_minutes.items()))
    _text(pdf, f"Handle minutes per intent: {minutes}.", size=8.5)


def _sources(pdf: FPDF, report: RoiReport) -> None:
    _heading(pdf, "Sources of the cost assumptions")
    for source in report.assumptions.sources:
        _text(pdf, f"- {source}", size=8.5)
        pdf.ln(0.5)
